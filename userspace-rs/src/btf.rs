//! Just enough of a BTF parser to answer "at which byte offset does
//! `struct.field` live in this kernel?", which `--btf-offset` and
//! `--btf-field` need. aya-obj parses BTF too, but keeps struct members
//! private.
//!
//! Format: a header, then a type section (records of kind-dependent length,
//! ids counting from 1) and a string section, both placed relative to the
//! end of the header. See Documentation/bpf/btf.rst in the kernel.

/// Where the running kernel exposes its own BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;

const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

pub struct Btf {
    /// Indexed by type id; id 0 is `void` and has no record.
    types: Vec<Type>,
    strings: Vec<u8>,
}

struct Type {
    kind: u32,
    name_off: u32,
    /// The referenced type, for the modifiers and typedefs we look through.
    target: u32,
    /// Struct and union members only.
    members: Vec<Member>,
}

struct Member {
    name_off: u32,
    ty: u32,
    /// Offset from the start of the struct, in bits.
    bit_offset: u32,
    /// Non-zero for bitfields.
    bit_size: u32,
}

impl Btf {
    /// Parses BTF as found in /sys/kernel/btf/vmlinux or an ELF `.BTF`
    /// section. Only little-endian BTF (the kernels we boot) is accepted.
    pub fn parse(data: &[u8]) -> Result<Btf, String> {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes(b.try_into().unwrap()))
        };
        let u32_at = |at: usize| {
            data.get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        };
        let short = || "BTF data is truncated".to_owned();

        if u16_at(0) != Some(MAGIC) {
            return Err("not little-endian BTF (bad magic)".to_owned());
        }
        // hdr_len, not sizeof(header): newer kernels may append header
        // fields, which must be skipped, not misread as types.
        let field = |i: usize| u32_at(4 + 4 * i).map(|v| v as usize).ok_or_else(short);
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
        let section = |off: usize, len: usize| {
            data.get(hdr_len + off..hdr_len + off + len)
                .ok_or_else(short)
        };
        let type_data = section(type_off, type_len)?;
        let strings = section(str_off, str_len)?.to_vec();

        let word = |at: usize| {
            type_data
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(short)
        };
        let mut types = vec![Type {
            kind: 0,
            name_off: 0,
            target: 0,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at < type_data.len() {
            // struct btf_type: name_off, info, size/type.
            let (name_off, info, size_or_type) = (word(at)?, word(at + 4)?, word(at + 8)?);
            at += 12;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            // Length of the kind-specific data that follows, by kind number.
            let extra = match kind {
                1 | 14 | 17 => 4,          // int, var, decl_tag
                3 => 12,                   // array
                2 | 7..=12 | 16 | 18 => 0, // ptr, fwd, typedef, modifiers, func, float, type_tag
                6 | 13 => 8 * vlen,        // enum, func_proto
                15 | 19 => 12 * vlen,      // datasec, enum64
                KIND_STRUCT | KIND_UNION => {
                    for i in 0..vlen {
                        let m = at + 12 * i;
                        let offset = word(m + 8)?;
                        // With kind_flag the offset word packs a bitfield's
                        // size (top 8 bits) with its bit offset.
                        let (bit_size, bit_offset) = if kind_flag {
                            (offset >> 24, offset & 0xff_ffff)
                        } else {
                            (0, offset)
                        };
                        members.push(Member {
                            name_off: word(m)?,
                            ty: word(m + 4)?,
                            bit_offset,
                            bit_size,
                        });
                    }
                    12 * vlen
                }
                _ => return Err(format!("unknown BTF kind {kind} (type id {})", types.len())),
            };
            at += extra;
            types.push(Type {
                kind,
                name_off,
                target: size_or_type,
                members,
            });
        }
        Ok(Btf { types, strings })
    }

    /// Byte offset of `path` = `struct.field[.field...]`, e.g.
    /// `task_struct.real_parent` or `task_struct.se.vruntime`. Fields in
    /// anonymous structs and unions are found as if they were direct members,
    /// as in C. Bitfields have no byte offset and are an error.
    pub fn field_offset(&self, path: &str) -> Result<u32, String> {
        let mut parts = path.split('.');
        let root = parts.next().unwrap_or_default();
        let fields: Vec<&str> = parts.collect();
        if root.is_empty() || fields.is_empty() || fields.iter().any(|f| f.is_empty()) {
            return Err(format!("`{path}` is not STRUCT.FIELD"));
        }
        let mut ty = self
            .types
            .iter()
            .position(|t| {
                matches!(t.kind, KIND_STRUCT | KIND_UNION) && self.name(t.name_off) == root
            })
            .ok_or_else(|| format!("no struct or union `{root}` in the kernel's BTF"))?
            as u32;
        let mut bits = 0;
        for (i, field) in fields.iter().enumerate() {
            let (member_bits, member) = self.find_member(ty, field).ok_or_else(|| {
                format!(
                    "`{}` has no field `{field}`",
                    fields_before(root, &fields[..i])
                )
            })?;
            if member.bit_size != 0 {
                return Err(format!("`{path}` is a bitfield"));
            }
            bits += member_bits;
            ty = self.strip(member.ty);
        }
        if bits % 8 != 0 {
            return Err(format!("`{path}` is not byte-aligned (bit offset {bits})"));
        }
        Ok(bits / 8)
    }

    /// The named member of struct/union `ty` and its bit offset, looking
    /// into anonymous struct/union members.
    fn find_member(&self, ty: u32, name: &str) -> Option<(u32, &Member)> {
        let t = self.types.get(ty as usize)?;
        for member in &t.members {
            if member.name_off == 0 {
                if let Some((bits, found)) = self.find_member(self.strip(member.ty), name) {
                    return Some((member.bit_offset + bits, found));
                }
            } else if self.name(member.name_off) == name {
                return Some((member.bit_offset, member));
            }
        }
        None
    }

    /// Follows typedefs and qualifiers down to the underlying type.
    fn strip(&self, mut ty: u32) -> u32 {
        while let Some(t) = self.types.get(ty as usize) {
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    ty = t.target
                }
                _ => break,
            }
        }
        ty
    }

    fn name(&self, off: u32) -> &str {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or_default()
    }
}

fn fields_before(root: &str, fields: &[&str]) -> String {
    std::iter::once(root)
        .chain(fields.iter().copied())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds BTF in memory: `types` are (name, info, size_or_type, extra
    /// words) records; names are added to the string section.
    struct Builder {
        types: Vec<u32>,
        strings: Vec<u8>,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                types: Vec::new(),
                strings: vec![0],
            }
        }

        fn name(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            off
        }

        fn add(
            &mut self,
            name: &str,
            kind: u32,
            kind_flag: bool,
            vlen: u32,
            size_or_type: u32,
            extra: &[u32],
        ) {
            let name = self.name(name);
            let info = (kind_flag as u32) << 31 | kind << 24 | vlen;
            self.types.extend([name, info, size_or_type]);
            self.types.extend_from_slice(extra);
        }

        fn add_members(
            &mut self,
            name: &str,
            kind: u32,
            kind_flag: bool,
            size: u32,
            members: &[(&str, u32, u32)],
        ) {
            let mut extra = Vec::new();
            for &(member, ty, offset) in members {
                extra.extend([self.name(member), ty, offset]);
            }
            self.add(name, kind, kind_flag, members.len() as u32, size, &extra);
        }

        fn build(self) -> Vec<u8> {
            let type_bytes: Vec<u8> = self.types.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut out = Vec::new();
            out.extend(MAGIC.to_le_bytes());
            out.extend([1, 0]); // version, flags
            for word in [
                24,
                0,
                type_bytes.len() as u32,
                type_bytes.len() as u32,
                self.strings.len() as u32,
            ] {
                out.extend(word.to_le_bytes());
            }
            out.extend(type_bytes);
            out.extend(self.strings);
            out
        }
    }

    /// A task_struct-like layout: an int, a bitfield group, a pointer to
    /// itself, and an anonymous union holding `static_prio`, plus a nested
    /// struct member and an enum record the parser must skip.
    fn sample() -> Btf {
        let mut b = Builder::new();
        b.add("int", 1, false, 0, 4, &[32]); // 1: int
        b.add("", 2, false, 0, 3, &[]); // 2: ptr -> 3
        // 3: struct task_struct
        b.add_members(
            "task_struct",
            KIND_STRUCT,
            true,
            64,
            &[
                ("tgid", 1, 32),
                ("in_execve", 1, 1 << 24 | 64),
                ("real_parent", 2, 128),
                ("", 4, 192),
                ("se", 6, 256),
            ],
        );
        // 4: anonymous union { int prio; int static_prio; }
        b.add_members(
            "",
            KIND_UNION,
            false,
            4,
            &[("prio", 1, 0), ("static_prio", 1, 0)],
        );
        b.add("state", 6, false, 1, 4, &[0, 0]); // 5: enum with one value
        b.add("se_t", KIND_TYPEDEF, false, 0, 7, &[]); // 6: typedef -> 7
        b.add_members(
            "sched_entity",
            KIND_STRUCT,
            false,
            16,
            &[("load", 1, 0), ("vruntime", 1, 64)],
        ); // 7
        Btf::parse(&b.build()).unwrap()
    }

    #[test]
    fn finds_direct_anonymous_and_nested_fields() {
        let btf = sample();
        assert_eq!(btf.field_offset("task_struct.tgid"), Ok(4));
        assert_eq!(btf.field_offset("task_struct.real_parent"), Ok(16));
        assert_eq!(btf.field_offset("task_struct.static_prio"), Ok(24));
        assert_eq!(btf.field_offset("task_struct.se.vruntime"), Ok(40));
    }

    #[test]
    fn explains_what_is_wrong() {
        let btf = sample();
        let err = |path| btf.field_offset(path).unwrap_err();
        assert!(err("task_struct.nope").contains("`task_struct` has no field `nope`"));
        assert!(err("task_struct.se.nope").contains("`task_struct.se` has no field `nope`"));
        assert!(err("mm_struct.pgd").contains("no struct or union `mm_struct`"));
        assert!(err("task_struct.in_execve").contains("bitfield"));
        assert!(err("task_struct").contains("STRUCT.FIELD"));
        assert!(err("task_struct.").contains("STRUCT.FIELD"));
    }

    #[test]
    fn rejects_bad_data() {
        assert!(Btf::parse(b"\x9f\xeb\x01\x00").is_err());
        assert!(Btf::parse(&[0; 32]).is_err());
        let mut b = Builder::new();
        b.add("x", 31, false, 0, 0, &[]);
        assert!(matches!(Btf::parse(&b.build()), Err(e) if e.contains("unknown BTF kind 31")));
    }
}
