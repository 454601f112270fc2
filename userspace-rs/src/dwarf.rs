//! Reads the type information of an eBPF object from its DWARF: every type
//! entry (structs with their member offsets, enums with their variants,
//! arrays, pointers, ...) and every static, so that records and map entries
//! of types the loader has never seen can be decoded.
//!
//! The DWARF, not `.BTF`: bpf-linker's BTF keeps the map definitions but not
//! the user's structs, while the DWARF rustc emitted for `debug = 2` has
//! them all, and the generic parameters of every map static's type.

use std::{borrow::Cow, collections::HashMap, collections::HashSet};

use gimli::{AttributeValue, EndianSlice, EntriesTreeNode, LittleEndian, Unit, constants as dw};
use object::{Object as _, ObjectSection as _};

use crate::types::{Field, Shape, Type, Variant};

type Reader<'d> = EndianSlice<'d, LittleEndian>;

/// What the object's DWARF says about its types and statics. Entries are
/// keyed by their offset in `.debug_info`, which is how entries refer to
/// each other, across compile units too (`DW_FORM_ref_addr`).
#[derive(Default)]
pub struct DebugInfo {
    /// Compile units read: one per crate and codegen unit that went into
    /// the object.
    pub units: usize,
    entries: HashMap<usize, Entry>,
    pub statics: Vec<Static>,
}

pub struct Entry {
    pub kind: Kind,
    /// The entry's own name, with bpf-linker's escapes undone (see
    /// `unescape`).
    pub name: Option<String>,
    /// The name within its namespaces and enclosing types:
    /// `myapp_common::OpenEvent`.
    pub path: Option<String>,
    pub size: Option<u64>,
    /// `DW_AT_type`: the pointee, element, aliased or underlying type.
    pub target: Option<usize>,
    /// Only declared here (`DW_AT_declaration`); defined elsewhere, if at all.
    pub declaration: bool,
}

pub enum Kind {
    Base(dw::DwAte),
    Pointer,
    Struct {
        members: Vec<Member>,
        params: Vec<Param>,
        /// A Rust enum with data, as rustc describes it.
        variant_part: bool,
    },
    Union(Vec<Member>),
    Enum(Vec<Enumerator>),
    /// One count per dimension, outermost first; None when unknown (a C
    /// flexible array member).
    Array(Vec<Option<u64>>),
    /// typedef, const, volatile, restrict, atomic: the target, renamed or
    /// qualified.
    Alias,
    /// Anything else that can be a type (functions, `void`), by DWARF tag.
    Other(&'static str),
}

pub struct Member {
    pub name: Option<String>,
    pub offset: Option<u64>,
    pub bitfield: bool,
    pub ty: Option<usize>,
}

/// A generic parameter of a type (`K` and `V` of `HashMap<K, V>`).
pub struct Param {
    pub name: Option<String>,
    pub ty: Option<usize>,
}

pub struct Enumerator {
    pub name: String,
    /// The value zero-extended from `width` bytes; sign-extended once the
    /// enum's signedness is known.
    pub value: u128,
    pub width: usize,
}

/// A variable outside any function: map statics among them.
pub struct Static {
    pub name: String,
    pub path: String,
    pub ty: Option<usize>,
}

/// Reads the object's DWARF; None when it has no `.debug_info` at all.
///
/// Relocations (`.rel.debug_*`) are not applied. The attributes read here
/// are names (`DW_FORM_strp`, relocated against the `.debug_str` section
/// symbol) and type references (`DW_FORM_ref4`, unit-relative, never
/// relocated; `DW_FORM_ref_addr`, against the `.debug_info` section symbol).
/// Section symbols in a relocatable object have the value 0 and the addend
/// is stored in place (REL), so the bytes already hold the final offsets.
/// Only addresses (`DW_AT_low_pc`, `DW_OP_addr`) would change, and those are
/// not used. A test checks this on the repository's objects.
pub fn read(bytes: &[u8]) -> Result<Option<DebugInfo>, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an ELF object: {e}"))?;
    if !file.is_little_endian() {
        return Err("is a big-endian object; only bpfel objects can be decoded".to_owned());
    }
    if file
        .section_by_name(".debug_info")
        .is_none_or(|section| section.size() == 0)
    {
        return Ok(None);
    }
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<[u8]>, String> {
        match file.section_by_name(id.name()) {
            Some(section) => section
                .uncompressed_data()
                .map_err(|e| format!("reading section {}: {e}", id.name())),
            None => Ok(Cow::Borrowed(&[])),
        }
    })?;
    let dwarf = sections.borrow(|section| EndianSlice::new(section, LittleEndian));
    let dwarf_error = |e: gimli::Error| format!("reading its DWARF: {e}");

    let mut walker = Walker {
        dwarf: &dwarf,
        info: DebugInfo::default(),
    };
    let mut headers = dwarf.units();
    while let Some(header) = headers.next().map_err(dwarf_error)? {
        let unit = dwarf.unit(header).map_err(dwarf_error)?;
        let Some(base) = unit.header.offset().as_debug_info_offset() else {
            continue;
        };
        walker.info.units += 1;
        let mut tree = unit.entries_tree(None).map_err(dwarf_error)?;
        let root = tree.root().map_err(dwarf_error)?;
        walker
            .walk(&unit, base.0, root, &mut Vec::new(), false)
            .map_err(dwarf_error)?;
    }
    Ok(Some(walker.info))
}

struct Walker<'d> {
    dwarf: &'d gimli::Dwarf<Reader<'d>>,
    info: DebugInfo,
}

impl<'d> Walker<'d> {
    /// Records `node` if it is a type or a static, then its children.
    /// `scope` holds the names of the enclosing namespaces and types.
    fn walk(
        &mut self,
        unit: &Unit<Reader<'d>>,
        base: usize,
        node: EntriesTreeNode<'_, '_, '_, Reader<'d>>,
        scope: &mut Vec<String>,
        in_function: bool,
    ) -> gimli::Result<()> {
        let entry = node.entry();
        let tag = entry.tag();
        let offset = base + entry.offset().0;
        let name = self.name(unit, entry.attr_value(dw::DW_AT_name)?)?;
        let path = name.as_ref().map(|name| {
            scope
                .iter()
                .map(String::as_str)
                .chain([name.as_str()])
                .collect::<Vec<_>>()
                .join("::")
        });
        let size = entry
            .attr_value(dw::DW_AT_byte_size)?
            .and_then(|v| v.udata_value());
        let target = reference(base, entry.attr_value(dw::DW_AT_type)?);
        let declaration = matches!(
            entry.attr_value(dw::DW_AT_declaration)?,
            Some(AttributeValue::Flag(true))
        );
        let record = |walker: &mut Self, kind: Kind, size: Option<u64>| {
            walker.info.entries.insert(
                offset,
                Entry {
                    kind,
                    name: name.clone(),
                    path: path.clone(),
                    size,
                    target,
                    declaration,
                },
            );
        };

        match tag {
            dw::DW_TAG_base_type => {
                let encoding = match entry.attr_value(dw::DW_AT_encoding)? {
                    Some(AttributeValue::Encoding(encoding)) => encoding,
                    _ => dw::DwAte(0),
                };
                record(self, Kind::Base(encoding), size);
            }
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type => {
                // bpf-linker leaves pointer entries without a size.
                let size = size.or(Some(u64::from(unit.encoding().address_size)));
                record(self, Kind::Pointer, size);
            }
            dw::DW_TAG_typedef
            | dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => record(self, Kind::Alias, size),
            dw::DW_TAG_subroutine_type => record(self, Kind::Other("function type"), size),
            dw::DW_TAG_unspecified_type => record(self, Kind::Other("unspecified type"), size),
            dw::DW_TAG_structure_type
            | dw::DW_TAG_class_type
            | dw::DW_TAG_union_type
            | dw::DW_TAG_enumeration_type
            | dw::DW_TAG_array_type => {
                let mut members = Vec::new();
                let mut params = Vec::new();
                let mut enumerators = Vec::new();
                let mut dims = Vec::new();
                let mut variant_part = false;
                // Types declared inside this one are named within it.
                scope.push(name.clone().unwrap_or_else(|| "{anonymous}".to_owned()));
                let mut children = node.children();
                while let Some(child) = children.next()? {
                    let e = child.entry();
                    match e.tag() {
                        dw::DW_TAG_member => members.push(Member {
                            name: self.name(unit, e.attr_value(dw::DW_AT_name)?)?,
                            offset: e
                                .attr_value(dw::DW_AT_data_member_location)?
                                .and_then(|v| v.udata_value()),
                            bitfield: e.attr_value(dw::DW_AT_bit_size)?.is_some(),
                            ty: reference(base, e.attr_value(dw::DW_AT_type)?),
                        }),
                        dw::DW_TAG_template_type_parameter => params.push(Param {
                            name: self.name(unit, e.attr_value(dw::DW_AT_name)?)?,
                            ty: reference(base, e.attr_value(dw::DW_AT_type)?),
                        }),
                        dw::DW_TAG_enumerator => {
                            let name = self.name(unit, e.attr_value(dw::DW_AT_name)?)?;
                            if let (Some(name), Some((value, width))) =
                                (name, constant(e.attr_value(dw::DW_AT_const_value)?))
                            {
                                enumerators.push(Enumerator { name, value, width });
                            }
                        }
                        dw::DW_TAG_subrange_type => dims.push(subrange_count(e)?),
                        dw::DW_TAG_variant_part => variant_part = true,
                        _ => self.walk(unit, base, child, scope, in_function)?,
                    }
                }
                scope.pop();
                let kind = match tag {
                    dw::DW_TAG_union_type => Kind::Union(members),
                    dw::DW_TAG_enumeration_type => Kind::Enum(enumerators),
                    dw::DW_TAG_array_type => Kind::Array(dims),
                    _ => Kind::Struct {
                        members,
                        params,
                        variant_part,
                    },
                };
                record(self, kind, size);
            }
            dw::DW_TAG_namespace => {
                scope.push(name.clone().unwrap_or_else(|| "{anonymous}".to_owned()));
                self.walk_children(unit, base, node, scope, in_function)?;
                scope.pop();
            }
            dw::DW_TAG_subprogram | dw::DW_TAG_inlined_subroutine | dw::DW_TAG_lexical_block => {
                self.walk_children(unit, base, node, scope, true)?;
            }
            dw::DW_TAG_variable if !in_function => {
                if let (Some(name), Some(path)) = (name, path) {
                    self.info.statics.push(Static {
                        name,
                        path,
                        ty: target,
                    });
                }
            }
            _ => self.walk_children(unit, base, node, scope, in_function)?,
        }
        Ok(())
    }

    fn walk_children(
        &mut self,
        unit: &Unit<Reader<'d>>,
        base: usize,
        node: EntriesTreeNode<'_, '_, '_, Reader<'d>>,
        scope: &mut Vec<String>,
        in_function: bool,
    ) -> gimli::Result<()> {
        let mut children = node.children();
        while let Some(child) = children.next()? {
            self.walk(unit, base, child, scope, in_function)?;
        }
        Ok(())
    }

    fn name(
        &self,
        unit: &Unit<Reader<'d>>,
        value: Option<AttributeValue<Reader<'d>>>,
    ) -> gimli::Result<Option<String>> {
        let Some(value) = value else {
            return Ok(None);
        };
        let raw = self.dwarf.attr_string(unit, value)?;
        Ok(Some(unescape(&raw.to_string_lossy())))
    }
}

/// The `.debug_info` offset a `DW_AT_type` (or similar) points at.
fn reference(base: usize, value: Option<AttributeValue<Reader<'_>>>) -> Option<usize> {
    match value? {
        AttributeValue::UnitRef(offset) => Some(base + offset.0),
        AttributeValue::DebugInfoRef(offset) => Some(offset.0),
        _ => None,
    }
}

/// An enumerator's `DW_AT_const_value` and the width of its form in bytes
/// (16 when the form already carries the full value).
fn constant(value: Option<AttributeValue<Reader<'_>>>) -> Option<(u128, usize)> {
    Some(match value? {
        AttributeValue::Data1(v) => (v.into(), 1),
        AttributeValue::Data2(v) => (v.into(), 2),
        AttributeValue::Data4(v) => (v.into(), 4),
        AttributeValue::Data8(v) => (v.into(), 8),
        AttributeValue::Udata(v) => (v.into(), 16),
        AttributeValue::Sdata(v) => (i128::from(v) as u128, 16),
        // DW_FORM_data16 (u128 discriminants) arrives as a block.
        AttributeValue::Block(block) if block.len() <= 16 => {
            let mut bytes = [0u8; 16];
            bytes[..block.len()].copy_from_slice(block.slice());
            (u128::from_le_bytes(bytes), block.len())
        }
        _ => return None,
    })
}

/// The element count of one array dimension.
fn subrange_count(
    entry: &gimli::DebuggingInformationEntry<'_, '_, Reader<'_>>,
) -> gimli::Result<Option<u64>> {
    if let Some(count) = entry.attr_value(dw::DW_AT_count)? {
        return Ok(count.udata_value());
    }
    let lower = entry
        .attr_value(dw::DW_AT_lower_bound)?
        .and_then(|v| v.sdata_value())
        .unwrap_or(0);
    Ok(entry
        .attr_value(dw::DW_AT_upper_bound)?
        .and_then(|v| v.sdata_value())
        .map(|upper| (upper - lower + 1).max(0) as u64))
}

/// bpf-linker rewrites the characters BTF does not allow in names as
/// `_XX_` (hex), so `HashMap<u32, u64>` arrives as
/// `HashMap_3C_u32_2C__20_u64_3E_`. Undone for lookups and messages.
fn unescape(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i..i + 4)
            .filter(|b| b[0] == b'_' && b[3] == b'_')
            .and_then(|b| std::str::from_utf8(&b[1..3]).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|c| c.is_ascii_punctuation() || *c == b' ')
            .filter(|c| *c != b'_');
        match escaped {
            Some(c) => {
                out.push(c as char);
                i += 4;
            }
            None => {
                // Copy one whole UTF-8 character.
                let c = name[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// Types nest deeper than this only in malformed DWARF (a type that
/// contains itself); stop instead of overflowing the stack.
const MAX_DEPTH: usize = 64;

impl DebugInfo {
    pub fn entry(&self, offset: usize) -> Option<&Entry> {
        self.entries.get(&offset)
    }

    pub fn entries(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries.iter().map(|(offset, entry)| (*offset, entry))
    }

    /// The entry's name for messages: its path, else its name, else what it
    /// is.
    pub fn display_name(&self, offset: usize) -> String {
        match self.entry(offset) {
            Some(Entry {
                path: Some(path), ..
            }) => path.clone(),
            Some(Entry {
                kind: Kind::Pointer,
                target,
                ..
            }) => format!(
                "*{}",
                target.map_or("void".to_owned(), |t| self.display_name(t))
            ),
            Some(Entry {
                kind: Kind::Alias,
                target: Some(target),
                ..
            }) => self.display_name(*target),
            _ => format!("<DWARF entry {offset:#x}>"),
        }
    }

    /// The decoder's view of the type at `offset`. `keep_bytes` holds the
    /// (struct path, field) pairs named by `--bytes`.
    pub fn to_type(
        &self,
        offset: usize,
        keep_bytes: &HashSet<(String, String)>,
    ) -> Result<Type, String> {
        self.translate(offset, keep_bytes, &mut Vec::new())
    }

    /// `trail` holds the members followed to get here (`Event.inner`), for
    /// the message when something on the way cannot be decoded.
    fn translate(
        &self,
        offset: usize,
        keep_bytes: &HashSet<(String, String)>,
        trail: &mut Vec<String>,
    ) -> Result<Type, String> {
        let name = self.display_name(offset);
        let refuse = |why: String, trail: &[String]| {
            if trail.is_empty() {
                Err(why)
            } else {
                Err(format!("{why} (reached through {})", trail.join(" → ")))
            }
        };
        if trail.len() > MAX_DEPTH {
            return refuse(
                format!("types nest deeper than {MAX_DEPTH} levels at {name}"),
                trail,
            );
        }
        let Some(entry) = self.entry(offset) else {
            return refuse(format!("{name} is not a type entry"), trail);
        };
        let size = entry.size.unwrap_or(0) as usize;
        let shape = match &entry.kind {
            Kind::Alias => {
                return match entry.target {
                    Some(target) => self.translate(target, keep_bytes, trail),
                    None => refuse(
                        format!("{name} is void, which has no value to decode"),
                        trail,
                    ),
                };
            }
            Kind::Other(what) => {
                return refuse(
                    format!("{name} is a {what}, which has no value to decode"),
                    trail,
                );
            }
            Kind::Base(encoding) => match (*encoding, size) {
                (dw::DW_ATE_boolean, 1) => Shape::Bool,
                (dw::DW_ATE_signed | dw::DW_ATE_signed_char, 0..=16) => Shape::Int { signed: true },
                (dw::DW_ATE_unsigned | dw::DW_ATE_unsigned_char, 0..=16) => {
                    Shape::Int { signed: false }
                }
                (dw::DW_ATE_float, 4 | 8) => Shape::Float,
                (dw::DW_ATE_UTF, 4) => Shape::Char,
                (encoding, size) => {
                    return refuse(
                        format!(
                            "{name} is a {size}-byte {encoding} base type, which the decoder does not decode"
                        ),
                        trail,
                    );
                }
            },
            Kind::Pointer => Shape::Pointer,
            Kind::Enum(_) if size > 16 => {
                return refuse(
                    format!("{name} is a {size}-byte enum, wider than any integer"),
                    trail,
                );
            }
            Kind::Enum(enumerators) => {
                let signed = entry.target.and_then(|t| self.entry(t)).is_some_and(|t| {
                    matches!(
                        t.kind,
                        Kind::Base(dw::DW_ATE_signed | dw::DW_ATE_signed_char)
                    )
                });
                let mask = if size >= 16 {
                    u128::MAX
                } else {
                    (1u128 << (8 * size)) - 1
                };
                let variants = enumerators
                    .iter()
                    .map(|e| {
                        let unused = 128 - 8 * e.width.min(16) as u32;
                        let value = if signed && unused > 0 {
                            (((e.value << unused) as i128) >> unused) as u128
                        } else {
                            e.value
                        };
                        Variant {
                            name: e.name.clone(),
                            bits: value & mask,
                        }
                    })
                    .collect();
                Shape::Enum { signed, variants }
            }
            Kind::Array(dims) => {
                let Some(element) = entry.target else {
                    return refuse(format!("{name} is an array without an element type"), trail);
                };
                let mut ty = self.translate(element, keep_bytes, trail)?;
                for count in dims.iter().rev() {
                    let len = count.unwrap_or(0) as usize;
                    let Some(size) = ty.size.checked_mul(len) else {
                        return refuse(
                            format!("{name} has {len} elements of {} bytes, too many", ty.size),
                            trail,
                        );
                    };
                    ty = Type {
                        name: format!("[{}; {len}]", ty.name),
                        size,
                        shape: Shape::Array {
                            element: Box::new(ty),
                            len,
                        },
                    };
                }
                return Ok(ty);
            }
            Kind::Struct {
                variant_part: true, ..
            } => {
                return refuse(
                    format!(
                        "{name} is a Rust enum with data, which the decoder does not decode; \
                     use a C-like #[repr(u8/u32)] enum or a #[repr(C)] struct in records and maps"
                    ),
                    trail,
                );
            }
            Kind::Struct { members, .. } | Kind::Union(members) => {
                if entry.declaration {
                    return refuse(
                        format!("{name} is only declared in the object's DWARF, not defined"),
                        trail,
                    );
                }
                let path = entry.path.clone().unwrap_or_default();
                let mut fields = Vec::new();
                for (index, member) in members.iter().enumerate() {
                    let field = member.name.clone().unwrap_or_else(|| format!("__{index}"));
                    if member.bitfield {
                        return refuse(
                            format!(
                                "{name}.{field} is a bitfield, which the decoder does not decode"
                            ),
                            trail,
                        );
                    }
                    let Some(ty) = member.ty else {
                        return refuse(format!("{name}.{field} has no type in the DWARF"), trail);
                    };
                    trail.push(format!("{name}.{field}"));
                    let ty = self.translate(ty, keep_bytes, trail)?;
                    trail.pop();
                    fields.push(Field {
                        keep_bytes: keep_bytes.contains(&(path.clone(), field.clone())),
                        name: field,
                        // Union members may omit it: they all start at 0.
                        offset: member.offset.unwrap_or(0) as usize,
                        ty,
                    });
                }
                // bpf-linker drops the variants of Rust enums with data
                // (BTF cannot express them), leaving a sized struct with
                // nothing in it: decoding it as `{}` would hide the data.
                if size > 0 && fields.iter().all(|f| f.ty.size == 0) {
                    return refuse(
                        format!(
                            "{name} is {size} bytes but its DWARF lists no members: most likely a Rust enum \
                         with data (Option, Result, ...), whose variants bpf-linker drops; \
                         the decoder cannot decode it, use a C-like #[repr(u8/u32)] enum or a \
                         #[repr(C)] struct in records and maps"
                        ),
                        trail,
                    );
                }
                if matches!(entry.kind, Kind::Union(_)) {
                    Shape::Union(fields)
                } else {
                    Shape::Struct(fields)
                }
            }
        };
        Ok(Type { name, size, shape })
    }
}

#[cfg(test)]
mod tests {
    use object::{ObjectSymbol as _, RelocationTarget, SymbolKind};

    use super::*;
    use crate::test_objects;

    /// Why `read` may ignore relocations: in the repository's objects,
    /// every relocation of a debug section that points into a debug section
    /// is against that section's symbol, whose value is 0; the others are
    /// addresses of code and maps, which are not read.
    #[test]
    fn debug_relocations_leave_offsets_unchanged() {
        for name in ["exec", "tcp_connect", "perf_ring", "task_core"] {
            let bytes = test_objects::read(name);
            let file = object::File::parse(&*bytes).unwrap();
            for section in file.sections() {
                let section_name = section.name().unwrap();
                if !section_name.starts_with(".debug_") {
                    continue;
                }
                for (offset, relocation) in section.relocations() {
                    let RelocationTarget::Symbol(index) = relocation.target() else {
                        panic!("{name} {section_name}+{offset:#x}: not against a symbol");
                    };
                    let symbol = file.symbol_by_index(index).unwrap();
                    let target = symbol
                        .section_index()
                        .and_then(|i| file.section_by_index(i).ok())
                        .map(|s| s.name().unwrap().to_owned())
                        .unwrap_or_default();
                    if target.starts_with(".debug_") {
                        assert_eq!(
                            (symbol.kind(), symbol.address()),
                            (SymbolKind::Section, 0),
                            "{name} {section_name}+{offset:#x} against {target}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn undoes_bpf_linker_escapes() {
        assert_eq!(
            unescape("HashMap_3C_u32_2C__20_myapp_3A__3A_Totals_3E_"),
            "HashMap<u32, myapp::Totals>"
        );
        assert_eq!(unescape("_28_u32_2C__20_u64_29_"), "(u32, u64)");
        // Ordinary names with underscores and digits are left alone.
        assert_eq!(unescape("__0"), "__0");
        assert_eq!(unescape("TASK_COMM_LEN"), "TASK_COMM_LEN");
        assert_eq!(unescape("x_41_y"), "x_41_y");
        assert_eq!(unescape("é_3C_"), "é<");
    }
}
