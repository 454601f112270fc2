//! Answers the loader's questions about an object's types, from its DWARF:
//! "the type named X", "the key and value types of map static M" and "is
//! `TYPE.FIELD` (for `--bytes`) a byte array". Every failure says what was
//! asked, where it was looked for, and how to get the answer.

use std::{
    cell::OnceCell,
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
};

use crate::{
    dwarf::{self, DebugInfo, Entry, Kind},
    types::{Field, MapTypes, Shape, Type},
};

/// How to get the type information into an object, for every message
/// about it missing.
const REMEDY: &str = "types are in the object's DWARF when the eBPF crate is built with `debug = 2` \
     in `[profile.release]` (or `[profile.release.package.<crate>]`) and the object is not stripped \
     (no `strip = true`, no `llvm-strip`), and only the types its code uses";

pub struct Catalog<'o> {
    object: PathBuf,
    bytes: &'o [u8],
    /// Read on the first question that needs it: primitive types do not,
    /// and an object without DWARF must still load when none is asked.
    info: OnceCell<Result<Option<DebugInfo>, String>>,
    /// (struct path, field) pairs named by `--bytes`.
    keep_bytes: HashSet<(String, String)>,
}

impl<'o> Catalog<'o> {
    pub fn new(object: &Path, bytes: &'o [u8]) -> Self {
        Catalog {
            object: object.to_owned(),
            bytes,
            info: OnceCell::new(),
            keep_bytes: HashSet::new(),
        }
    }

    /// The DWARF, or why it cannot answer; `wanted` says what for.
    fn info(&self, wanted: &str) -> Result<&DebugInfo, String> {
        let read = self.info.get_or_init(|| {
            dwarf::read(self.bytes).map_err(|e| format!("{}: {e}", self.object.display()))
        });
        match read {
            Ok(Some(info)) => Ok(info),
            Ok(None) => Err(format!(
                "{} has no DWARF (no .debug_info section): it was stripped of its type information, \
                 so {wanted} cannot be found; {REMEDY}",
                self.object.display()
            )),
            Err(e) => Err(e.clone()),
        }
    }

    /// The type named `name`: a primitive (`u32`, `bool`, ...), a simple
    /// name (`OpenEvent`) or a path, full or trailing (`myapp_common::OpenEvent`).
    pub fn type_named(&self, name: &str) -> Result<Type, String> {
        if let Some(primitive) = Type::primitive(name) {
            return Ok(primitive);
        }
        let info = self.info(&format!("type `{name}`"))?;
        let offset = self.find(info, name)?;
        info.to_type(offset, &self.keep_bytes)
            .map_err(|e| format!("type `{name}` in {}: {e}", self.object.display()))
    }

    /// The key and value types of map `map`: the ones named (`KEY:VALUE`),
    /// else those of the map static's declaration.
    pub fn map_types(&self, map: &str, named: Option<(&str, &str)>) -> Result<MapTypes, String> {
        if let Some((key, value)) = named {
            return Ok(MapTypes {
                key: self.type_named(key)?,
                value: self.type_named(value)?,
            });
        }
        let name_them = format!("name the types instead: --map {map}=KEY:VALUE");
        let info = self
            .info(&format!("the key and value types of map {map}"))
            .map_err(|e| format!("{e}; or {name_them}"))?;

        let mut declarations: BTreeMap<String, Option<usize>> = BTreeMap::new();
        for found in info.statics.iter().filter(|s| s.name == map) {
            declarations.entry(found.path.clone()).or_insert(found.ty);
        }
        let declared = match declarations.len() {
            0 => {
                return Err(format!(
                    "map {map}: the DWARF of {} declares no static named {map} (searched {} compile units), \
                     so its key and value types are unknown; {name_them}",
                    self.object.display(),
                    info.units
                ));
            }
            1 => declarations.into_values().next().flatten(),
            _ => {
                return Err(format!(
                    "map {map}: the DWARF of {} declares several statics named {map} ({}); {name_them}",
                    self.object.display(),
                    declarations.into_keys().collect::<Vec<_>>().join(", ")
                ));
            }
        };
        let Some(offset) = declared.map(|t| peel(info, t)) else {
            return Err(format!(
                "map {map}: its static has no type in the DWARF; {name_them}"
            ));
        };
        let declared = info.display_name(offset);
        let param = |wanted: &str| match info.entry(offset) {
            Some(Entry {
                kind: Kind::Struct { params, .. },
                ..
            }) => params
                .iter()
                .find(|p| p.name.as_deref() == Some(wanted))
                .and_then(|p| p.ty),
            _ => None,
        };
        let translate = |what: &str, offset: usize| {
            info.to_type(offset, &self.keep_bytes)
                .map_err(|e| format!("map {map} (declared as {declared}): its {what} type: {e}"))
        };
        match (param("K"), param("V"), param("T")) {
            (Some(key), Some(value), _) => {
                let key = translate("key", key)?;
                Ok(MapTypes {
                    // The kernel's LPM trie key is aya's `Key<K>`, the
                    // prefix length before the data, not `K` itself.
                    key: if declared.starts_with("aya_ebpf::maps::lpm_trie::LpmTrie<") {
                        lpm_trie_key(key)
                    } else {
                        key
                    },
                    value: translate("value", value)?,
                })
            }
            // Arrays (Array<T>, PerCpuArray<T>, ...) are indexed by u32.
            (_, _, Some(value)) => Ok(MapTypes {
                key: Type::primitive("u32").expect("u32 is a primitive"),
                value: translate("value", value)?,
            }),
            _ => Err(format!(
                "map {map} is declared as {declared}, which has no K and V or T type parameters \
                 to take the key and value types from; {name_them}"
            )),
        }
    }

    /// Records `--bytes TYPE.FIELD` after checking that TYPE is a struct or
    /// union with a byte-array FIELD. Call before asking for types: the
    /// choice is part of each `Type` built afterwards.
    pub fn keep_bytes(&mut self, type_name: &str, field: &str) -> Result<(), String> {
        let spec = format!("--bytes {type_name}.{field}");
        let info = self
            .info(&format!("type `{type_name}`"))
            .map_err(|e| format!("{spec}: {e}"))?;
        let offset = peel(
            info,
            self.find(info, type_name)
                .map_err(|e| format!("{spec}: {e}"))?,
        );
        let ty = info
            .to_type(offset, &HashSet::new())
            .map_err(|e| format!("{spec}: {e}"))?;
        let (Shape::Struct(fields) | Shape::Union(fields)) = &ty.shape else {
            return Err(format!("{spec}: {} is not a struct or union", ty.name));
        };
        let Some(member) = fields.iter().find(|f| f.name == field) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "{spec}: {} has no field `{field}` (its fields: {})",
                ty.name,
                names.join(", ")
            ));
        };
        if !member.ty.holds_byte_arrays() {
            return Err(format!(
                "{spec}: {}.{field} is {}, not a byte array ([u8; N] or [i8; N])",
                ty.name, member.ty.name
            ));
        }
        let path = info
            .entry(offset)
            .and_then(|e| e.path.clone())
            .unwrap_or_default();
        self.keep_bytes.insert((path, field.to_owned()));
        Ok(())
    }

    /// The entry of the one type definition `name` designates.
    fn find(&self, info: &DebugInfo, name: &str) -> Result<usize, String> {
        let suffix = format!("::{name}");
        // Every crate's compile unit carries its own copy of the types it
        // uses: copies with the same path and size are the same type.
        let mut found: BTreeMap<(&str, u64), usize> = BTreeMap::new();
        for (offset, entry) in info.entries() {
            let Some(path) = named_type(entry) else {
                continue;
            };
            if path == name || path.ends_with(&suffix) {
                let slot = found
                    .entry((path, entry.size.unwrap_or(0)))
                    .or_insert(offset);
                *slot = (*slot).min(offset);
            }
        }
        match found.len() {
            1 => Ok(found.into_values().next().expect("one entry")),
            0 => Err(self.not_found(info, name)),
            _ => Err(format!(
                "type name `{name}` is ambiguous in {}: {}; name one by its path",
                self.object.display(),
                found
                    .keys()
                    .map(|(path, size)| format!("{path} ({size} bytes)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn not_found(&self, info: &DebugInfo, name: &str) -> String {
        let searched = info
            .entries()
            .filter(|(_, e)| {
                named_type(e).is_some()
                    && matches!(e.kind, Kind::Struct { .. } | Kind::Union(_) | Kind::Enum(_))
            })
            .count();
        let wanted = name.rsplit("::").next().unwrap_or(name);
        let mut close: Vec<&str> = info
            .entries()
            .filter_map(|(_, e)| {
                let path = named_type(e)?;
                let simple = e.name.as_deref()?;
                // Generic instances (`Option<Foo>`) would drown the rest.
                (!simple.contains('<') && resembles(wanted, simple)).then_some(path)
            })
            .collect();
        close.sort_unstable();
        close.dedup();
        close.truncate(5);
        let close = if close.is_empty() {
            String::new()
        } else {
            format!("; close matches: {}", close.join(", "))
        };
        format!(
            "no type `{name}` in the DWARF of {} (searched {} compile units, {searched} named structs, \
             unions and enums){close}; {REMEDY}",
            self.object.display(),
            info.units
        )
    }
}

/// The path of a type definition that can be asked for by name.
fn named_type(entry: &Entry) -> Option<&str> {
    let nameable = match &entry.kind {
        Kind::Struct { .. } | Kind::Union(_) | Kind::Enum(_) | Kind::Base(_) => true,
        // typedefs; const and volatile have no name.
        Kind::Alias => entry.name.is_some(),
        _ => false,
    };
    if !nameable || entry.declaration {
        return None;
    }
    entry.path.as_deref()
}

/// Follows typedefs and qualifiers to the type they stand for.
fn peel(info: &DebugInfo, mut offset: usize) -> usize {
    // Bounded: malformed DWARF could make a cycle.
    for _ in 0..16 {
        match info.entry(offset) {
            Some(Entry {
                kind: Kind::Alias,
                target: Some(target),
                ..
            }) => offset = *target,
            _ => break,
        }
    }
    offset
}

/// aya-ebpf's `lpm_trie::Key<K>`: `#[repr(C, packed)] { prefix_len: u32, data: K }`.
fn lpm_trie_key(data: Type) -> Type {
    let prefix_len = Type::primitive("u32").expect("u32 is a primitive");
    Type {
        name: format!("aya_ebpf::maps::lpm_trie::Key<{}>", data.name),
        size: prefix_len.size + data.size,
        shape: Shape::Struct(vec![
            Field {
                name: "prefix_len".to_owned(),
                offset: 0,
                ty: prefix_len,
                keep_bytes: false,
            },
            Field {
                name: "data".to_owned(),
                offset: 4,
                ty: data,
                keep_bytes: false,
            },
        ]),
    }
}

/// Whether `candidate` looks like a misspelling of `wanted`: the same
/// ignoring case and underscores (`exec_event` for `ExecEvent`), one inside
/// the other, or at most two edits apart.
fn resembles(wanted: &str, candidate: &str) -> bool {
    let normal = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (a, b) = (normal(wanted), normal(candidate));
    if a.len() < 3 || b.len() < 3 {
        return a == b;
    }
    let contains = |hay: &[char], needle: &[char]| hay.windows(needle.len()).any(|w| w == needle);
    a == b || contains(&a, &b) || contains(&b, &a) || edit_distance(&a, &b) <= 2
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{decode::decode, test_objects};

    /// A catalog over one of the repository's objects; the bytes are
    /// leaked, which is fine for a test.
    fn catalog(object: &str) -> Catalog<'static> {
        let bytes = test_objects::read(object).leak();
        Catalog::new(&test_objects::path(object), bytes)
    }

    /// (name, offset, type name) of each member, in declaration order.
    fn layout(ty: &Type) -> Vec<(&str, usize, &str)> {
        let Shape::Struct(fields) = &ty.shape else {
            panic!("{} is not a struct", ty.name);
        };
        fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset, f.ty.name.as_str()))
            .collect()
    }

    fn comm(text: &[u8]) -> [u8; 16] {
        let mut comm = [0u8; 16];
        comm[..text.len()].copy_from_slice(text);
        comm
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn exec_event_layout_from_dwarf() {
        let ty = catalog("exec").type_named("ExecEvent").unwrap();
        assert_eq!(
            (ty.name.as_str(), ty.size),
            ("kmatrix_common::ExecEvent", 32)
        );
        assert_eq!(
            layout(&ty),
            [
                ("pid", 0, "u32"),
                ("tgid", 4, "u32"),
                ("uid", 8, "u32"),
                ("gid", 12, "u32"),
                ("comm", 16, "[u8; 16]"),
            ]
        );
    }

    #[test]
    fn tcp_event_layout_from_dwarf() {
        let ty = catalog("tcp_connect")
            .type_named("kmatrix_common::TcpEvent")
            .unwrap();
        assert_eq!(ty.size, 36);
        assert_eq!(
            layout(&ty),
            [
                ("pid", 0, "u32"),
                ("tid", 4, "u32"),
                ("daddr", 8, "u32"),
                ("dport", 12, "u16"),
                ("sport", 14, "u16"),
                ("family", 16, "u16"),
                ("reserved", 18, "u16"),
                ("comm", 20, "[u8; 16]"),
            ]
        );
    }

    /// The JSON of the four records of this repository is what the hand
    /// decoders produced, except TcpEvent's `daddr` (a number now) and
    /// `reserved` (now present).
    #[test]
    fn repository_records_decode_as_before() {
        let decoded = |object: &str, ty: &str, bytes: &[u8]| {
            decode(&catalog(object).type_named(ty).unwrap(), bytes).unwrap()
        };
        let mut exec = words(&[1, 2, 3, 4]);
        exec.extend(comm(b"true\0x")); // garbage after the NUL is ignored
        assert_eq!(
            decoded("exec", "ExecEvent", &exec),
            json!({"pid": 1, "tgid": 2, "uid": 3, "gid": 4, "comm": "true"})
        );
        let mut task = words(&[1, 2, 3, 127, 4]);
        task.extend(comm(b"true"));
        assert_eq!(
            decoded("task_btf", "TaskEvent", &task),
            json!({"pid": 1, "tgid": 2, "ppid": 3, "static_prio": 127, "uid": 4, "comm": "true"})
        );
        assert_eq!(
            decoded("gate", "GateEvent", &words(&[7, 36])),
            json!({"pid": 7, "sum": 36})
        );
        let mut tcp = words(&[9, 11, u32::from_le_bytes([127, 0, 0, 1])]);
        for half in [18080u16, 41234, 2, 0] {
            tcp.extend(half.to_le_bytes());
        }
        tcp.extend(comm(b"curl"));
        assert_eq!(
            decoded("tcp_connect", "TcpEvent", &tcp),
            json!({"pid": 9, "tid": 11, "daddr": 0x0100_007f, "dport": 18080, "sport": 41234,
                   "family": 2, "reserved": 0, "comm": "curl"})
        );
    }

    #[test]
    fn map_types_from_declarations() {
        let names = |object: &str, map: &str| {
            let types = catalog(object).map_types(map, None).unwrap();
            (types.key.name, types.value.name)
        };
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        // HashMap<u32, u64>, Array<u64>, LruHashMap<u16, u64>,
        // PerCpuArray<u64>, PerfEventArray<ExecEvent>.
        assert_eq!(names("exec", "EXECS_BY_UID"), pair("u32", "u64"));
        assert_eq!(names("exec", "EXEC_DROPPED"), pair("u32", "u64"));
        assert_eq!(names("tcp_connect", "CONNECTS_BY_PORT"), pair("u16", "u64"));
        assert_eq!(names("packets", "XDP_PACKETS"), pair("u32", "u64"));
        assert_eq!(
            names("perf_ring", "PERF_EVENTS"),
            pair("u32", "kmatrix_common::ExecEvent")
        );
    }

    #[test]
    fn maps_without_types_to_take() {
        let exec = catalog("exec");
        let err = exec.map_types("NOPE", None).unwrap_err();
        assert!(
            err.starts_with("map NOPE: the DWARF of ")
                && err.contains("declares no static named NOPE (searched ")
                && err.ends_with("name the types instead: --map NOPE=KEY:VALUE"),
            "{err}"
        );
        let err = exec.map_types("EXEC_EVENTS", None).unwrap_err();
        assert_eq!(
            err,
            "map EXEC_EVENTS is declared as aya_ebpf::maps::ring_buf::RingBuf, which has no K and V \
             or T type parameters to take the key and value types from; \
             name the types instead: --map EXEC_EVENTS=KEY:VALUE"
        );
    }

    #[test]
    fn unknown_names_say_where_they_were_looked_for() {
        let err = catalog("exec").type_named("exec_event").unwrap_err();
        assert!(
            err.starts_with("no type `exec_event` in the DWARF of ")
                && err.contains("exec (searched ")
                && err.contains(" compile units, ")
                && err.contains("; close matches: kmatrix_common::ExecEvent; ")
                && err.contains("`debug = 2`")
                && err.contains("[profile.release.package.<crate>]"),
            "{err}"
        );
    }

    #[test]
    fn ambiguous_names_list_the_candidates() {
        let exec = catalog("exec");
        let err = exec.type_named("Ordering").unwrap_err();
        assert!(
            err.starts_with("type name `Ordering` is ambiguous in ")
                && err.ends_with(
                    ": core::cmp::Ordering (1 bytes), core::sync::atomic::Ordering (1 bytes); \
                     name one by its path"
                ),
            "{err}"
        );
        // A trailing path is enough; this one is a signed (i8) C-like enum.
        let ordering = exec.type_named("cmp::Ordering").unwrap();
        assert_eq!(decode(&ordering, &[0xff]), Ok(json!("Less")));
        assert_eq!(decode(&ordering, &[1]), Ok(json!("Greater")));
    }

    #[test]
    fn bytes_override_checks_the_field() {
        let mut exec = catalog("exec");
        exec.keep_bytes("ExecEvent", "comm").unwrap();
        let ty = exec.type_named("ExecEvent").unwrap();
        let mut bytes = words(&[1, 2, 3, 4]);
        bytes.extend(comm(b"ab"));
        assert_eq!(
            decode(&ty, &bytes).unwrap()["comm"],
            json!([97, 98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(
            exec.keep_bytes("ExecEvent", "pid").unwrap_err(),
            "--bytes ExecEvent.pid: kmatrix_common::ExecEvent.pid is u32, not a byte array \
             ([u8; N] or [i8; N])"
        );
        assert_eq!(
            exec.keep_bytes("ExecEvent", "name").unwrap_err(),
            "--bytes ExecEvent.name: kmatrix_common::ExecEvent has no field `name` \
             (its fields: pid, tgid, uid, gid, comm)"
        );
    }

    #[test]
    fn primitives_need_no_dwarf_and_stripped_objects_say_so() {
        // The object with its .debug_info renamed away, as if stripped.
        let mut bytes = test_objects::read("exec");
        let name = b".debug_info\0";
        let at: Vec<usize> = (0..bytes.len() - name.len())
            .filter(|&i| &bytes[i..i + name.len()] == name)
            .collect();
        assert!(!at.is_empty());
        for i in at {
            bytes[i + 1] = b'x';
        }
        let stripped = Catalog::new(Path::new("stripped/exec"), &bytes);
        assert_eq!(stripped.type_named("u64").unwrap().size, 8);
        let err = stripped.type_named("ExecEvent").unwrap_err();
        assert!(
            err.starts_with(
                "stripped/exec has no DWARF (no .debug_info section): it was stripped of its \
                 type information, so type `ExecEvent` cannot be found; types are in the \
                 object's DWARF when the eBPF crate is built with `debug = 2`"
            ),
            "{err}"
        );
        let err = stripped.map_types("EXECS_BY_UID", None).unwrap_err();
        assert!(
            err.ends_with("or name the types instead: --map EXECS_BY_UID=KEY:VALUE"),
            "{err}"
        );
    }

    #[test]
    fn close_names() {
        assert!(resembles("exec_event", "ExecEvent"));
        assert!(resembles("Event", "ExecEvent"));
        assert!(resembles("TcpEvnt", "TcpEvent"));
        assert!(!resembles("Totals", "ExecEvent"));
        assert!(!resembles("u8", "u16"));
    }
}
