//! The types the decoder understands: a tree built from the object's DWARF
//! (see `dwarf.rs`) or, for the primitive names, from a built-in table.
//! Sizes and offsets are the object's, never computed from Rust's layout
//! rules, so a record is read exactly as the eBPF side wrote it.

#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    /// How messages name the type: `u32`, `myapp_common::OpenEvent`,
    /// `[u8; 16]`.
    pub name: String,
    /// Bytes the type occupies, as the object's DWARF says.
    pub size: usize,
    pub shape: Shape,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Int {
        signed: bool,
    },
    Bool,
    Float,
    /// Rust's `char`: a Unicode scalar value in 4 bytes.
    Char,
    /// Raw pointers and references: only the address is meaningful here.
    Pointer,
    Struct(Vec<Field>),
    /// Every member starts at offset 0; all are decoded over the same bytes.
    Union(Vec<Field>),
    /// A C-like enum (`#[repr(u32)] enum Kind { A = 1, B = 7 }`).
    Enum {
        signed: bool,
        variants: Vec<Variant>,
    },
    Array {
        element: Box<Type>,
        len: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    /// Byte offset from the start of the enclosing struct.
    pub offset: usize,
    pub ty: Type,
    /// Set by `--bytes TYPE.FIELD`: a byte array that stays an array of
    /// numbers even when its content looks like a C string.
    pub keep_bytes: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub name: String,
    /// The discriminant's bit pattern, zero-extended from the enum's size:
    /// compared with the record's bytes read the same way, so signed and
    /// unsigned enums need no separate handling.
    pub bits: u128,
}

/// How a map's keys and values are decoded.
#[derive(Debug)]
pub struct MapTypes {
    pub key: Type,
    pub value: Type,
}

/// Names that resolve without looking at the object: an object only
/// describes the primitives its own code happens to use.
const PRIMITIVES: &[(&str, usize, Shape)] = &[
    ("u8", 1, Shape::Int { signed: false }),
    ("u16", 2, Shape::Int { signed: false }),
    ("u32", 4, Shape::Int { signed: false }),
    ("u64", 8, Shape::Int { signed: false }),
    ("u128", 16, Shape::Int { signed: false }),
    // BPF is a 64-bit target.
    ("usize", 8, Shape::Int { signed: false }),
    ("i8", 1, Shape::Int { signed: true }),
    ("i16", 2, Shape::Int { signed: true }),
    ("i32", 4, Shape::Int { signed: true }),
    ("i64", 8, Shape::Int { signed: true }),
    ("i128", 16, Shape::Int { signed: true }),
    ("isize", 8, Shape::Int { signed: true }),
    ("bool", 1, Shape::Bool),
    ("f32", 4, Shape::Float),
    ("f64", 8, Shape::Float),
    ("char", 4, Shape::Char),
];

impl Type {
    pub fn primitive(name: &str) -> Option<Type> {
        PRIMITIVES
            .iter()
            .find(|(known, _, _)| *known == name)
            .map(|(name, size, shape)| Type {
                name: (*name).to_owned(),
                size: *size,
                shape: shape.clone(),
            })
    }

    /// `[u8; N]` and `[i8; N]` (C's `char[N]` too): the arrays that may
    /// hold text.
    pub fn is_byte_array(&self) -> bool {
        match &self.shape {
            Shape::Array { element, .. } => {
                matches!(element.shape, Shape::Int { .. }) && element.size == 1
            }
            _ => false,
        }
    }

    /// A byte array, or an array of them (`[[u8; 16]; 4]`).
    pub fn holds_byte_arrays(&self) -> bool {
        match &self.shape {
            Shape::Array { element, .. } => self.is_byte_array() || element.holds_byte_arrays(),
            _ => false,
        }
    }
}

/// The primitive names, for the usage text.
pub fn primitive_names() -> String {
    PRIMITIVES
        .iter()
        .map(|(name, _, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}
