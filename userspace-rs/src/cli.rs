//! Command-line parsing. Hand-rolled: the grammar is a few repeatable
//! `--flag VALUE` options, and every mistake has to surface as a protocol
//! `error` line (stage `parse`), not as free-form usage text.

use std::path::PathBuf;

use crate::types;

pub const USAGE: &str = "\
usage: kmatrix-loader --object PATH [options]
       kmatrix-loader --live --object PATH (--map MAP[=KEY:VALUE] | --pinned PATH=KEY:VALUE)...
       kmatrix-loader --census

  --census                       print the ids and names of every BPF program
                                   and map loaded in the kernel, and exit

  --object PATH                  eBPF object (ELF) to load; with --live, only
                                   read for its types
  --attach PROGRAM=KIND:TARGET   load PROGRAM and attach it (repeatable)
                                   tracepoint:CATEGORY/NAME
                                   kprobe:FUNCTION
                                   xdp:INTERFACE
                                   tc-ingress:INTERFACE
  --ringbuf MAP=TYPE             stream records of ring buffer MAP (repeatable)
  --perf MAP=TYPE                stream records of perf event array MAP, one
                                   buffer per online CPU (repeatable)
  --map MAP[=KEY:VALUE]          dump MAP at exit (repeatable); without types,
                                   those of MAP's declaration: K and V of
                                   HashMap<K, V> and the like, u32 and T of
                                   Array<T> and PerCpuArray<T>, aya's Key<K>
                                   and V of LpmTrie<K, V>
  --bytes TYPE.FIELD             keep byte array FIELD of struct TYPE as an
                                   array of numbers even where it looks like a
                                   C string (repeatable)
  --btf-offset GLOBAL=STRUCT.FIELD
                                 before load, set the u32 global GLOBAL to
                                   FIELD's byte offset in the running kernel's
                                   BTF (repeatable)
  --btf-field STRUCT.FIELD       only report FIELD's offset (repeatable)

  --live                         load nothing: dump maps of programs that are
                                   already running, then exit
  --map MAP[=KEY:VALUE]          (with --live) the live map named MAP (the
                                   kernel keeps its first 15 bytes)
  --pinned PATH=KEY:VALUE        (with --live) the map pinned at PATH

MAP is the map static's name in the eBPF code. TYPE, KEY and VALUE are read
from the object's DWARF (built with `debug = 2`, not stripped): a type's name
(`OpenEvent`), or its path (`myapp_common::OpenEvent`) where the name is
ambiguous. These need no DWARF:
  {types}.
Records decode to JSON by the DWARF's member offsets: structs as objects
(padding and zero-sized members left out), unions as objects of every member
read over the same bytes, C-like enums as variant names, pointers as hex
strings, integers beyond 2^53 as decimal strings; a byte array is a string
when it holds a NUL and the bytes before it are printable UTF-8 (bytes after
it are ignored), otherwise an array of numbers. Rust enums with data
(Option, Result, ...) and C bitfields are refused.
FIELD of --btf-offset may be a path (`task_struct.se.vruntime`); every offset
resolved is listed in the `ready` line's `offsets`.
Runs until stdin reaches EOF or SIGTERM/SIGINT (--live: until every map is
dumped); stdout carries only JSON lines.";

#[derive(Debug)]
pub struct Args {
    pub object: PathBuf,
    pub attach: Vec<Attach>,
    pub ringbufs: Vec<StreamSpec>,
    /// `--perf`: PerfEventArray maps, read on every online CPU.
    pub perf_arrays: Vec<StreamSpec>,
    pub maps: Vec<MapSpec>,
    pub keep_bytes: Vec<BytesField>,
    pub btf_offsets: Vec<BtfOffset>,
    /// `--btf-field`: resolved and reported, but not written anywhere.
    pub btf_fields: Vec<String>,
}

/// `--live`: dump maps that a running program created.
#[derive(Debug)]
pub struct LiveArgs {
    /// Read for its types only.
    pub object: PathBuf,
    pub maps: Vec<MapSpec>,
    pub pinned: Vec<PinnedSpec>,
    pub keep_bytes: Vec<BytesField>,
}

/// `--btf-offset GLOBAL=STRUCT.FIELD`.
#[derive(Debug)]
pub struct BtfOffset {
    pub global: String,
    pub field: String,
}

#[derive(Debug)]
pub struct Attach {
    pub program: String,
    pub target: Target,
}

#[derive(Debug)]
pub enum Target {
    TracePoint { category: String, name: String },
    KProbe { function: String },
    Xdp { interface: String },
    TcIngress { interface: String },
}

impl Target {
    /// The `type` reported for the program in the `ready` line.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::TracePoint { .. } => "tracepoint",
            Target::KProbe { .. } => "kprobe",
            Target::Xdp { .. } => "xdp",
            Target::TcIngress { .. } => "tc",
        }
    }

    /// The `attach` point reported in the `ready` line. For XDP the loader
    /// adds the mode when it had to fall back to generic (skb) mode.
    pub fn point(&self) -> String {
        match self {
            Target::TracePoint { category, name } => format!("{category}/{name}"),
            Target::KProbe { function } => function.clone(),
            Target::Xdp { interface } => interface.clone(),
            Target::TcIngress { interface } => format!("{interface} ingress"),
        }
    }
}

/// Attach kinds the harness will grow into. Naming them here gives a clear
/// "not supported yet" instead of "unknown kind" for a valid-looking spec.
/// Listed in the errors for unsupported and unknown kinds.
const SUPPORTED_KINDS: &str = "tracepoint, kprobe, xdp, tc-ingress";

const PLANNED_KINDS: &[&str] = &[
    "kretprobe",
    "uprobe",
    "uretprobe",
    "raw_tracepoint",
    "tp_btf",
    "fentry",
    "fexit",
    "lsm",
    "tc-egress",
    "cgroup_skb",
    "socket_filter",
];

/// A map streamed as `event` lines (`--ringbuf` or `--perf`), each record
/// decoded as the type named `type_name`.
#[derive(Debug)]
pub struct StreamSpec {
    pub map: String,
    pub type_name: String,
}

/// `--map MAP[=KEY:VALUE]`.
#[derive(Debug)]
pub struct MapSpec {
    pub map: String,
    /// The key and value type names; None to take them from the map's
    /// declaration.
    pub types: Option<(String, String)>,
}

/// `--pinned PATH=KEY:VALUE`.
#[derive(Debug)]
pub struct PinnedSpec {
    pub path: PathBuf,
    pub key: String,
    pub value: String,
}

/// `--bytes TYPE.FIELD`.
#[derive(Debug)]
pub struct BytesField {
    pub type_name: String,
    pub field: String,
}

pub enum Parsed {
    Run(Args),
    Live(LiveArgs),
    Help,
    /// `--census`: what the kernel has loaded, to check that a VM is clean.
    Census,
}

pub fn usage() -> String {
    USAGE.replace("{types}", &types::primitive_names())
}

pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut object = None;
    let mut live = false;
    let mut attach = Vec::new();
    let mut ringbufs = Vec::new();
    let mut perf_arrays = Vec::new();
    let mut maps = Vec::new();
    let mut pinned = Vec::new();
    let mut keep_bytes = Vec::new();
    let mut btf_offsets = Vec::new();
    let mut btf_fields = Vec::new();

    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--census" => return Ok(Parsed::Census),
            "--live" => {
                live = true;
                continue;
            }
            _ => {}
        }
        // Accept both `--flag VALUE` and `--flag=VALUE`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--object" => object = Some(PathBuf::from(value()?)),
            "--attach" => attach.push(parse_attach(&value()?)?),
            "--ringbuf" => ringbufs.push(parse_stream("--ringbuf", &value()?)?),
            "--perf" => perf_arrays.push(parse_stream("--perf", &value()?)?),
            "--map" => maps.push(parse_map(&value()?)?),
            "--pinned" => pinned.push(parse_pinned(&value()?)?),
            "--bytes" => keep_bytes.push(parse_bytes(&value()?)?),
            "--btf-offset" => btf_offsets.push(parse_btf_offset(&value()?)?),
            "--btf-field" => btf_fields.push(parse_btf_field("--btf-field", &value()?)?),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }

    let object = object.ok_or("--object is required")?;
    if !live {
        if !pinned.is_empty() {
            return Err("--pinned only works with --live".to_owned());
        }
        return Ok(Parsed::Run(Args {
            object,
            attach,
            ringbufs,
            perf_arrays,
            maps,
            keep_bytes,
            btf_offsets,
            btf_fields,
        }));
    }
    for (flag, given) in [
        ("--attach", !attach.is_empty()),
        ("--ringbuf", !ringbufs.is_empty()),
        ("--perf", !perf_arrays.is_empty()),
        ("--btf-offset", !btf_offsets.is_empty()),
        ("--btf-field", !btf_fields.is_empty()),
    ] {
        if given {
            return Err(format!(
                "{flag} cannot be used with --live, which loads nothing and only dumps maps"
            ));
        }
    }
    if maps.is_empty() && pinned.is_empty() {
        return Err("--live needs at least one --map or --pinned".to_owned());
    }
    Ok(Parsed::Live(LiveArgs {
        object,
        maps,
        pinned,
        keep_bytes,
    }))
}

fn split_assignment<'a>(flag: &str, spec: &'a str) -> Result<(&'a str, &'a str), String> {
    match spec.split_once('=') {
        Some((name, rest)) if !name.is_empty() && !rest.is_empty() => Ok((name, rest)),
        _ => Err(format!("{flag} expects NAME=VALUE, got `{spec}`")),
    }
}

fn parse_attach(spec: &str) -> Result<Attach, String> {
    let (program, target) = split_assignment("--attach", spec)?;
    let Some((kind, point)) = target.split_once(':') else {
        return Err(format!(
            "--attach expects PROGRAM=KIND:TARGET, got `{spec}`"
        ));
    };
    let target = match kind {
        "tracepoint" => match point.split_once('/') {
            Some((category, name))
                if !category.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Target::TracePoint {
                    category: category.to_owned(),
                    name: name.to_owned(),
                }
            }
            _ => {
                return Err(format!(
                    "tracepoint target must be CATEGORY/NAME, got `{point}`"
                ));
            }
        },
        "kprobe" if !point.is_empty() && !point.contains(['/', ' ']) => Target::KProbe {
            function: point.to_owned(),
        },
        "kprobe" => {
            return Err(format!(
                "kprobe target must be a kernel function name, got `{point}`"
            ));
        }
        "xdp" => Target::Xdp {
            interface: parse_interface(kind, point)?,
        },
        "tc-ingress" => Target::TcIngress {
            interface: parse_interface(kind, point)?,
        },
        _ if PLANNED_KINDS.contains(&kind) => {
            return Err(format!(
                "attach kind `{kind}` is not supported yet (supported: {SUPPORTED_KINDS})"
            ));
        }
        _ => {
            return Err(format!(
                "unknown attach kind `{kind}` in `{spec}` (supported: {SUPPORTED_KINDS})"
            ));
        }
    };
    Ok(Attach {
        program: program.to_owned(),
        target,
    })
}

/// A network interface name as the kernel accepts it (`dev_valid_name`):
/// 1 to 15 bytes, no `/`, `:` or whitespace, not `.` or `..`. Whether it
/// exists is found out at attach, in the loader's network namespace.
fn parse_interface(kind: &str, name: &str) -> Result<String, String> {
    const IFNAMSIZ: usize = 16;
    if name.is_empty()
        || name.len() >= IFNAMSIZ
        || name == "."
        || name == ".."
        || name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "{kind} target must be a network interface name, got `{name}`"
        ));
    }
    Ok(name.to_owned())
}

fn parse_stream(flag: &str, spec: &str) -> Result<StreamSpec, String> {
    let (map, type_name) = split_assignment(flag, spec)?;
    Ok(StreamSpec {
        map: map.to_owned(),
        type_name: type_name.to_owned(),
    })
}

fn parse_map(spec: &str) -> Result<MapSpec, String> {
    if !spec.contains('=') {
        return Ok(MapSpec {
            map: spec.to_owned(),
            types: None,
        });
    }
    let (map, types) = split_assignment("--map", spec)?;
    let Some((key, value)) = split_key_value(types) else {
        return Err(format!("--map expects MAP or MAP=KEY:VALUE, got `{spec}`"));
    };
    Ok(MapSpec {
        map: map.to_owned(),
        types: Some((key.to_owned(), value.to_owned())),
    })
}

fn parse_pinned(spec: &str) -> Result<PinnedSpec, String> {
    // The last `=`: type names never hold one, paths might.
    let split = spec
        .rsplit_once('=')
        .and_then(|(path, types)| Some((path, split_key_value(types)?)));
    match split {
        Some((path, (key, value))) if !path.is_empty() => Ok(PinnedSpec {
            path: PathBuf::from(path),
            key: key.to_owned(),
            value: value.to_owned(),
        }),
        _ => Err(format!("--pinned expects PATH=KEY:VALUE, got `{spec}`")),
    }
}

/// `KEY:VALUE`, where the types may be paths: the separator is the one
/// colon that is not half of a `::`.
fn split_key_value(types: &str) -> Option<(&str, &str)> {
    let bytes = types.as_bytes();
    let separators: Vec<usize> = (0..bytes.len())
        .filter(|&i| {
            bytes[i] == b':' && (i == 0 || bytes[i - 1] != b':') && bytes.get(i + 1) != Some(&b':')
        })
        .collect();
    match separators[..] {
        [at] if at > 0 && at + 1 < types.len() => Some((&types[..at], &types[at + 1..])),
        _ => None,
    }
}

fn parse_bytes(spec: &str) -> Result<BytesField, String> {
    match spec.rsplit_once('.') {
        Some((type_name, field)) if !type_name.is_empty() && !field.is_empty() => Ok(BytesField {
            type_name: type_name.to_owned(),
            field: field.to_owned(),
        }),
        _ => Err(format!("--bytes expects TYPE.FIELD, got `{spec}`")),
    }
}

fn parse_btf_offset(spec: &str) -> Result<BtfOffset, String> {
    let (global, field) = split_assignment("--btf-offset", spec)?;
    Ok(BtfOffset {
        global: global.to_owned(),
        field: parse_btf_field("--btf-offset", field)?,
    })
}

/// Only the shape is checked here; whether the field exists depends on the
/// kernel and is found out at load.
fn parse_btf_field(flag: &str, field: &str) -> Result<String, String> {
    match field.split_once('.') {
        Some((name, rest)) if !name.is_empty() && !rest.split('.').any(str::is_empty) => {
            Ok(field.to_owned())
        }
        _ => Err(format!("{flag} expects STRUCT.FIELD, got `{field}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn full_command_line() {
        let Ok(Parsed::Run(args)) = args(&[
            "--object",
            "exec",
            "--attach=sched_process_exec=tracepoint:sched/sched_process_exec",
            "--ringbuf",
            "EXEC_EVENTS=ExecEvent",
            "--perf=PERF_EVENTS=kmatrix_common::ExecEvent",
            "--map",
            "EXECS_BY_UID=u32:u64",
            "--map=TOTALS=u32:myapp_common::Totals",
            "--map",
            "EXEC_DROPPED",
            "--bytes",
            "myapp::Peer.addr",
            "--btf-offset",
            "TASK_TGID_OFF=task_struct.tgid",
            "--btf-field=task_struct.se.vruntime",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(args.object, PathBuf::from("exec"));
        assert_eq!(args.attach[0].program, "sched_process_exec");
        assert_eq!(args.attach[0].target.point(), "sched/sched_process_exec");
        assert_eq!(args.ringbufs[0].type_name, "ExecEvent");
        assert_eq!(args.perf_arrays[0].map, "PERF_EVENTS");
        assert_eq!(args.perf_arrays[0].type_name, "kmatrix_common::ExecEvent");
        let types: Vec<_> = args
            .maps
            .iter()
            .map(|m| (m.map.as_str(), m.types.clone()))
            .collect();
        let named = |k: &str, v: &str| Some((k.to_owned(), v.to_owned()));
        assert_eq!(
            types,
            [
                ("EXECS_BY_UID", named("u32", "u64")),
                ("TOTALS", named("u32", "myapp_common::Totals")),
                ("EXEC_DROPPED", None),
            ]
        );
        assert_eq!(
            (
                args.keep_bytes[0].type_name.as_str(),
                args.keep_bytes[0].field.as_str()
            ),
            ("myapp::Peer", "addr")
        );
        assert_eq!(args.btf_offsets[0].global, "TASK_TGID_OFF");
        assert_eq!(args.btf_offsets[0].field, "task_struct.tgid");
        assert_eq!(args.btf_fields, ["task_struct.se.vruntime"]);
    }

    #[test]
    fn live_command_line() {
        let Ok(Parsed::Live(live)) = args(&[
            "--live",
            "--object",
            "myapp",
            "--map",
            "COUNTS",
            "--map=OPENS=u32:myapp_common::OpenTotals",
            "--pinned",
            "/sys/fs/bpf/a=b/COUNTS=u32:u64",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(live.object, PathBuf::from("myapp"));
        assert_eq!(live.maps.len(), 2);
        assert_eq!(live.maps[0].types, None);
        assert_eq!(live.pinned[0].path, PathBuf::from("/sys/fs/bpf/a=b/COUNTS"));
        assert_eq!(
            (live.pinned[0].key.as_str(), live.pinned[0].value.as_str()),
            ("u32", "u64")
        );
    }

    #[test]
    fn key_value_split_skips_path_separators() {
        assert_eq!(split_key_value("u32:u64"), Some(("u32", "u64")));
        assert_eq!(split_key_value("a::K:b::V"), Some(("a::K", "b::V")));
        assert_eq!(
            split_key_value("u32:HashMap<u32, a::B>"),
            Some(("u32", "HashMap<u32, a::B>"))
        );
        assert_eq!(split_key_value("a::B"), None);
        assert_eq!(split_key_value("u32:u64:u8"), None);
        assert_eq!(split_key_value(":u64"), None);
    }

    #[test]
    fn kprobe_target() {
        let Ok(Parsed::Run(args)) = args(&[
            "--object",
            "tcp_connect",
            "--attach",
            "tcp_connect=kprobe:tcp_connect",
        ]) else {
            panic!("should parse");
        };
        let target = &args.attach[0].target;
        assert_eq!(
            (target.kind(), target.point()),
            ("kprobe", "tcp_connect".to_owned())
        );
    }

    #[test]
    fn network_targets() {
        let Ok(Parsed::Run(args)) = args(&[
            "--object",
            "packets",
            "--attach",
            "count_xdp=xdp:veth-b",
            "--attach=count_tc=tc-ingress:veth-b",
        ]) else {
            panic!("should parse");
        };
        let points: Vec<_> = args
            .attach
            .iter()
            .map(|a| (a.program.as_str(), a.target.kind(), a.target.point()))
            .collect();
        assert_eq!(
            points,
            [
                ("count_xdp", "xdp", "veth-b".to_owned()),
                ("count_tc", "tc", "veth-b ingress".to_owned()),
            ]
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            &["--attach", "p=tracepoint:sched"][..],
            &["--object", "o", "--attach", "p=kretprobe:do_sys_open"],
            &["--object", "o", "--attach", "p=kprobe:"],
            &["--object", "o", "--attach", "p=kprobe:a/b"],
            &["--object", "o", "--attach", "p=bogus:x"],
            &["--object", "o", "--attach", "p=tc-egress:eth0"],
            &["--object", "o", "--attach", "p=xdp:"],
            &["--object", "o", "--attach", "p=xdp:a/b"],
            &["--object", "o", "--attach", "p=xdp:sixteen-bytes-xx"],
            &["--object", "o", "--attach", "p=tc-ingress:eth0:1"],
            &["--object", "o", "--attach", "p=tc-ingress:.."],
            &["--object", "o", "--map", "M=u32"],
            &["--object", "o", "--map", "M="],
            &["--object", "o", "--map", "M=a::B"],
            &["--object", "o", "--ringbuf", "M"],
            &["--object", "o", "--perf", "M"],
            &["--object", "o", "--bytes", "Event"],
            &["--object", "o", "--bytes", "Event."],
            &["--object", "o", "--pinned", "/sys/fs/bpf/M=u32:u64"],
            &["--live", "--object", "o"],
            &["--live", "--object", "o", "--pinned", "/sys/fs/bpf/M"],
            &[
                "--live",
                "--object",
                "o",
                "--map",
                "M",
                "--attach",
                "p=kprobe:f",
            ],
            &[
                "--live",
                "--object",
                "o",
                "--map",
                "M",
                "--ringbuf",
                "R=Event",
            ],
            &["--live", "--map", "M"],
            &["--object", "o", "--btf-offset", "task_struct.tgid"],
            &["--object", "o", "--btf-offset", "G=task_struct"],
            &["--object", "o", "--btf-field", ".tgid"],
            &["--object", "o", "--btf-field", "task_struct..tgid"],
            &["--object"],
            &["--frobnicate"],
            &[],
        ] {
            assert!(args(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
