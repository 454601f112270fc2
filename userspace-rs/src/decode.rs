//! Turns the bytes of a record, map key or map value into JSON, driven by a
//! `Type` alone: there is no code per struct.
//!
//! Multi-byte values are read little-endian: BPF objects for
//! `bpfel-unknown-none` and the hosts that run them (x86_64, aarch64) are
//! little-endian, and `dwarf.rs` refuses big-endian objects.

use serde_json::{Map, Value, json};

use crate::types::{Field, Shape, Type};

/// Decodes `bytes` as `ty`. The error names the field at fault, as a path
/// from `ty` (`myapp::OpenEvent.flags[2].enabled`), and what is wrong.
pub fn decode(ty: &Type, bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() != ty.size {
        return Err(format!(
            "{} is {} bytes, got {}",
            ty.name,
            ty.size,
            bytes.len()
        ));
    }
    value(ty, bytes, false).map_err(|e| e.describe(&ty.name))
}

/// What went wrong, and where: the members and indices walked from the
/// top-level type, innermost last.
struct Fault {
    path: Vec<String>,
    message: String,
}

impl Fault {
    fn new(message: String) -> Self {
        Fault {
            path: Vec::new(),
            message,
        }
    }

    fn within(mut self, step: String) -> Self {
        self.path.insert(0, step);
        self
    }

    fn describe(self, root: &str) -> String {
        let mut at = root.to_owned();
        for step in &self.path {
            if !step.starts_with('[') {
                at.push('.');
            }
            at.push_str(step);
        }
        format!("{at}: {}", self.message)
    }
}

/// `keep_bytes`: the field was named by `--bytes`, so byte arrays in it are
/// never read as strings.
fn value(ty: &Type, bytes: &[u8], keep_bytes: bool) -> Result<Value, Fault> {
    Ok(match &ty.shape {
        Shape::Int { signed } => int(bytes, *signed),
        Shape::Bool => match bytes[0] {
            0 => json!(false),
            1 => json!(true),
            other => {
                return Err(Fault::new(format!(
                    "byte {other:#04x} is not a bool (0 or 1)"
                )));
            }
        },
        Shape::Float => float(bytes),
        Shape::Char => {
            let code = unsigned(bytes) as u32;
            let c = char::from_u32(code).ok_or_else(|| {
                Fault::new(format!("{code:#x} is not a Unicode scalar value (char)"))
            })?;
            json!(c.to_string())
        }
        Shape::Pointer => json!(format!("{:#x}", unsigned(bytes))),
        Shape::Struct(fields) => {
            let mut object = Map::new();
            for field in fields {
                if field.ty.size == 0 {
                    continue; // PhantomData, (): nothing to read.
                }
                object.insert(field.name.clone(), member(field, bytes, &ty.name)?);
            }
            Value::Object(object)
        }
        Shape::Union(fields) => {
            let mut object = Map::new();
            for field in fields {
                if field.ty.size == 0 {
                    continue;
                }
                // At most one member holds what was written; the others
                // may not be valid values of their type (a bool arm over a
                // word), which is no reason to lose the record.
                let decoded = member(field, bytes, &ty.name).unwrap_or(Value::Null);
                object.insert(field.name.clone(), decoded);
            }
            Value::Object(object)
        }
        Shape::Enum { signed, variants } => {
            let bits = unsigned(bytes);
            match variants.iter().find(|v| v.bits == bits) {
                Some(variant) => json!(variant.name),
                None => {
                    let shown = |bits: u128| {
                        if *signed {
                            sign_extend(bits, bytes.len()).to_string()
                        } else {
                            bits.to_string()
                        }
                    };
                    let known: Vec<String> = variants
                        .iter()
                        .map(|v| format!("{} = {}", v.name, shown(v.bits)))
                        .collect();
                    return Err(Fault::new(format!(
                        "{} is no variant of {} ({})",
                        shown(bits),
                        ty.name,
                        known.join(", ")
                    )));
                }
            }
        }
        Shape::Array { element, len } => {
            if ty.is_byte_array()
                && !keep_bytes
                && let Some(text) = c_string(bytes)
            {
                return Ok(json!(text));
            }
            let mut items = Vec::with_capacity(*len);
            // Zero-sized elements (`[PhantomData<T>; 4]`) hold nothing.
            let stride = element.size.max(1);
            for (i, chunk) in bytes.chunks_exact(stride).take(*len).enumerate() {
                items.push(
                    value(element, chunk, keep_bytes).map_err(|e| e.within(format!("[{i}]")))?,
                );
            }
            Value::Array(items)
        }
    })
}

fn member(field: &Field, bytes: &[u8], parent: &str) -> Result<Value, Fault> {
    let end = field.offset + field.ty.size;
    let Some(slice) = bytes.get(field.offset..end) else {
        return Err(Fault::new(format!(
            "member {} ({}, bytes {}..{end}) lies outside the {}-byte {parent}",
            field.name,
            field.ty.name,
            field.offset,
            bytes.len()
        )));
    };
    value(&field.ty, slice, field.keep_bytes).map_err(|e| e.within(field.name.clone()))
}

/// What `bpf_get_current_comm` and `bpf_probe_read_*_str` leave in a byte
/// array: text, a NUL, then anything. Without a NUL, or with bytes before it
/// that are not printable UTF-8, the array is data (an address, a hash) and
/// stays numbers.
fn c_string(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    (!text.chars().any(char::is_control)).then(|| text.to_owned())
}

/// Little-endian, zero-extended to 128 bits (sizes up to 16 bytes).
fn unsigned(bytes: &[u8]) -> u128 {
    let mut buffer = [0u8; 16];
    buffer[..bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(buffer)
}

fn sign_extend(bits: u128, size: usize) -> i128 {
    let unused = 128 - 8 * size as u32;
    ((bits << unused) as i128) >> unused
}

/// Integers beyond 2^53 lose precision as JSON numbers in JavaScript, so
/// those are emitted as decimal strings instead.
fn int(bytes: &[u8], signed: bool) -> Value {
    const SAFE: u128 = (1 << 53) - 1;
    let bits = unsigned(bytes);
    if signed {
        let value = sign_extend(bits, bytes.len());
        if value.unsigned_abs() <= SAFE {
            json!(value as i64)
        } else {
            json!(value.to_string())
        }
    } else if bits <= SAFE {
        json!(bits as u64)
    } else {
        json!(bits.to_string())
    }
}

/// JSON has no NaN or infinities; those become the strings `NaN`, `inf`
/// and `-inf`.
fn float(bytes: &[u8]) -> Value {
    let value = match bytes.len() {
        // Through the shortest decimal form of the f32, so 0.1f32 reads as
        // 0.1 and not 0.10000000149011612.
        4 => {
            let single = f32::from_le_bytes(bytes.try_into().unwrap());
            single.to_string().parse::<f64>().unwrap_or(f64::NAN)
        }
        _ => f64::from_le_bytes(bytes.try_into().unwrap()),
    };
    serde_json::Number::from_f64(value).map_or_else(|| json!(value.to_string()), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Variant;

    fn int_type(name: &str) -> Type {
        Type::primitive(name).unwrap()
    }

    fn array(element: Type, len: usize) -> Type {
        Type {
            name: format!("[{}; {len}]", element.name),
            size: element.size * len,
            shape: Shape::Array {
                element: Box::new(element),
                len,
            },
        }
    }

    fn field(name: &str, offset: usize, ty: Type) -> Field {
        Field {
            name: name.to_owned(),
            offset,
            ty,
            keep_bytes: false,
        }
    }

    fn structure(name: &str, size: usize, fields: Vec<Field>) -> Type {
        Type {
            name: name.to_owned(),
            size,
            shape: Shape::Struct(fields),
        }
    }

    fn kind_enum() -> Type {
        Type {
            name: "app::Kind".to_owned(),
            size: 4,
            shape: Shape::Enum {
                signed: false,
                variants: vec![
                    Variant {
                        name: "Exec".to_owned(),
                        bits: 1,
                    },
                    Variant {
                        name: "Other".to_owned(),
                        bits: 7,
                    },
                ],
            },
        }
    }

    /// struct Event { pid: u32, flag: bool, (3 bytes padding) kind: Kind,
    /// inner: Inner { a: u16, b: u8, (1 byte padding) c: u32 },
    /// points: [Point { x: i32, y: i32 }; 2], (4 bytes padding) task: *const u8 }
    fn event() -> Type {
        let inner = structure(
            "app::Inner",
            8,
            vec![
                field("a", 0, int_type("u16")),
                field("b", 2, int_type("u8")),
                field("c", 4, int_type("u32")),
            ],
        );
        let point = structure(
            "app::Point",
            8,
            vec![
                field("x", 0, int_type("i32")),
                field("y", 4, int_type("i32")),
            ],
        );
        let pointer = Type {
            name: "*const u8".to_owned(),
            size: 8,
            shape: Shape::Pointer,
        };
        let marker = structure("core::marker::PhantomData<u64>", 0, Vec::new());
        structure(
            "app::Event",
            48,
            vec![
                field("pid", 0, int_type("u32")),
                field("flag", 4, int_type("bool")),
                field("kind", 8, kind_enum()),
                field("inner", 12, inner),
                field("_marker", 20, marker),
                field("points", 20, array(point, 2)),
                field("task", 40, pointer),
            ],
        )
    }

    fn event_bytes() -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(42u32.to_le_bytes());
        bytes.extend([1, 0xaa, 0xbb, 0xcc]); // flag, then padding garbage
        bytes.extend(7u32.to_le_bytes());
        bytes.extend(0x1234u16.to_le_bytes());
        bytes.extend([0x56, 0xee]); // b, then padding garbage
        bytes.extend(99u32.to_le_bytes());
        for v in [-1i32, 2, 3, -4] {
            bytes.extend(v.to_le_bytes());
        }
        bytes.extend([0xdd; 4]); // padding garbage
        bytes.extend(0xffff_8880_0123_4560u64.to_le_bytes());
        bytes
    }

    #[test]
    fn nested_structs_arrays_enum_bool_pointer_and_padding() {
        assert_eq!(
            decode(&event(), &event_bytes()),
            Ok(json!({
                "pid": 42,
                "flag": true,
                "kind": "Other",
                "inner": { "a": 0x1234, "b": 0x56, "c": 99 },
                "points": [{ "x": -1, "y": 2 }, { "x": 3, "y": -4 }],
                "task": "0xffff888001234560",
            }))
        );
    }

    #[test]
    fn members_come_in_declaration_order() {
        let decoded = decode(&event(), &event_bytes()).unwrap();
        let keys: Vec<&str> = decoded
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["pid", "flag", "kind", "inner", "points", "task"]);
    }

    #[test]
    fn bad_bool_and_unknown_variant_name_the_field() {
        let mut bytes = event_bytes();
        bytes[4] = 2;
        assert_eq!(
            decode(&event(), &bytes),
            Err("app::Event.flag: byte 0x02 is not a bool (0 or 1)".to_owned())
        );
        let mut bytes = event_bytes();
        bytes[8] = 3;
        assert_eq!(
            decode(&event(), &bytes),
            Err("app::Event.kind: 3 is no variant of app::Kind (Exec = 1, Other = 7)".to_owned())
        );
    }

    #[test]
    fn signed_enum_values_read_as_signed() {
        let level = Type {
            name: "app::Level".to_owned(),
            size: 1,
            shape: Shape::Enum {
                signed: true,
                variants: vec![Variant {
                    name: "Low".to_owned(),
                    bits: 0xff,
                }],
            },
        };
        assert_eq!(decode(&level, &[0xff]), Ok(json!("Low")));
        assert_eq!(
            decode(&level, &[0xfe]),
            Err("app::Level: -2 is no variant of app::Level (Low = -1)".to_owned())
        );
    }

    #[test]
    fn byte_arrays_are_strings_only_when_they_look_like_c_strings() {
        let name = array(int_type("u8"), 8);
        let text = |bytes: &[u8; 8]| decode(&name, bytes).unwrap();
        // Text, NUL, then leftovers that must not leak into the string.
        assert_eq!(text(b"curl\0xyz"), json!("curl"));
        assert_eq!(text(&[0; 8]), json!(""));
        // No NUL: data.
        assert_eq!(
            text(b"abcdefgh"),
            json!([97, 98, 99, 100, 101, 102, 103, 104])
        );
        // Control characters or invalid UTF-8 before the NUL: data.
        assert_eq!(
            text(&[127, 0, 0, 1, 0, 0, 0, 0]),
            json!([127, 0, 0, 1, 0, 0, 0, 0])
        );
        assert_eq!(
            text(&[10, 0, 0, 1, 0, 0, 0, 0]),
            json!([10, 0, 0, 1, 0, 0, 0, 0])
        );
        assert_eq!(
            text(&[0xc3, 0x28, 0, 0, 0, 0, 0, 0]),
            json!([195, 40, 0, 0, 0, 0, 0, 0])
        );
        // UTF-8 is text.
        assert_eq!(text(b"h\xc3\xa9\0\0\0\0\0"), json!("hé"));
        // i8 arrays follow the same rule, as numbers they are signed.
        let signed = array(int_type("i8"), 2);
        assert_eq!(decode(&signed, &[b'a', 0]), Ok(json!("a")));
        assert_eq!(decode(&signed, &[0xff, 1]), Ok(json!([-1, 1])));
    }

    #[test]
    fn keep_bytes_overrides_the_string_rule() {
        let mut name = field("addr", 0, array(int_type("u8"), 4));
        name.keep_bytes = true;
        let grid = Field {
            keep_bytes: true,
            ..field("grid", 4, array(array(int_type("u8"), 2), 2))
        };
        let ty = structure("app::Peer", 8, vec![name, grid]);
        assert_eq!(
            decode(&ty, b"AB\0\0h\0i\0"),
            Ok(json!({ "addr": [65, 66, 0, 0], "grid": [[104, 0], [105, 0]] }))
        );
    }

    #[test]
    fn multi_dimensional_arrays_nest() {
        let grid = array(array(int_type("u8"), 3), 2);
        assert_eq!(
            decode(&grid, &[1, 2, 3, b'h', b'i', 0]),
            Ok(json!([[1, 2, 3], "hi"]))
        );
        let matrix = array(array(int_type("i16"), 2), 2);
        let bytes: Vec<u8> = [1i16, -2, 3, -4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(decode(&matrix, &bytes), Ok(json!([[1, -2], [3, -4]])));
    }

    #[test]
    fn unions_decode_every_member_over_the_same_bytes() {
        let either = Type {
            name: "app::Either".to_owned(),
            size: 4,
            shape: Shape::Union(vec![
                field("word", 0, int_type("u32")),
                field("real", 0, int_type("f32")),
                field("flag", 0, int_type("bool")),
            ]),
        };
        assert_eq!(
            decode(&either, &1.5f32.to_le_bytes()),
            Ok(json!({ "word": 0x3fc0_0000, "real": 1.5, "flag": false }))
        );
        // An arm that does not hold a valid value is null, not a failure.
        assert_eq!(
            decode(&either, &0x4000_0002u32.to_le_bytes()),
            Ok(json!({ "word": 0x4000_0002, "real": 2.0000005, "flag": null }))
        );
    }

    #[test]
    fn integers_beyond_2_pow_53_become_strings() {
        assert_eq!(decode(&int_type("u64"), &5u64.to_le_bytes()), Ok(json!(5)));
        assert_eq!(
            decode(&int_type("u64"), &u64::MAX.to_le_bytes()),
            Ok(json!("18446744073709551615"))
        );
        assert_eq!(
            decode(&int_type("i32"), &(-7i32).to_le_bytes()),
            Ok(json!(-7))
        );
        assert_eq!(
            decode(&int_type("i64"), &i64::MIN.to_le_bytes()),
            Ok(json!("-9223372036854775808"))
        );
        assert_eq!(
            decode(&int_type("u128"), &u128::MAX.to_le_bytes()),
            Ok(json!(u128::MAX.to_string()))
        );
        assert_eq!(
            decode(&int_type("i128"), &(-3i128).to_le_bytes()),
            Ok(json!(-3))
        );
    }

    #[test]
    fn floats_and_chars() {
        assert_eq!(
            decode(&int_type("f32"), &0.1f32.to_le_bytes()),
            Ok(json!(0.1))
        );
        assert_eq!(
            decode(&int_type("f64"), &(-2.5f64).to_le_bytes()),
            Ok(json!(-2.5))
        );
        assert_eq!(
            decode(&int_type("f64"), &f64::NAN.to_le_bytes()),
            Ok(json!("NaN"))
        );
        assert_eq!(
            decode(&int_type("char"), &('é' as u32).to_le_bytes()),
            Ok(json!("é"))
        );
        assert_eq!(
            decode(&int_type("char"), &0xd800u32.to_le_bytes()),
            Err("char: 0xd800 is not a Unicode scalar value (char)".to_owned())
        );
    }

    #[test]
    fn size_mismatch_is_an_error() {
        assert_eq!(
            decode(&event(), &[0; 12]),
            Err("app::Event is 48 bytes, got 12".to_owned())
        );
    }

    #[test]
    fn zero_sized_elements_are_not_a_panic() {
        let markers = array(structure("core::marker::PhantomData<u8>", 0, Vec::new()), 4);
        assert_eq!(decode(&markers, &[]), Ok(json!([])));
    }

    #[test]
    fn members_outside_the_struct_are_an_error_not_a_panic() {
        let broken = structure("app::Broken", 4, vec![field("x", 2, int_type("u32"))]);
        assert_eq!(
            decode(&broken, &[0; 4]),
            Err(
                "app::Broken: member x (u32, bytes 2..6) lies outside the 4-byte app::Broken"
                    .to_owned()
            )
        );
    }
}
