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
                                   raw_tracepoint:NAME
                                   kprobe:FUNCTION
                                   kretprobe:FUNCTION
                                   fentry:FUNCTION    (kernel BTF)
                                   fexit:FUNCTION     (kernel BTF)
                                   uprobe:BINARY:SYMBOL[+OFFSET]
                                   uprobe:BINARY:0xOFFSET
                                   uretprobe:BINARY:SYMBOL[+OFFSET] (or 0xOFFSET)
                                   xdp:INTERFACE
                                   tc-ingress:INTERFACE
                                   tc-egress:INTERFACE
                                   cgroup-skb-ingress:CGROUP_DIR
                                   cgroup-skb-egress:CGROUP_DIR
                                   socket-filter:packet:INTERFACE
                                     (the loader opens an AF_PACKET raw
                                     socket bound to INTERFACE, attaches the
                                     filter and holds it until shutdown)
                                   lsm:HOOK           (kernel BTF, and bpf in
                                     the kernel's active LSMs)
  --prog-array MAP=INDEX:PROGRAM[,INDEX:PROGRAM...]
                                 before any attach, load each PROGRAM and put
                                   it at INDEX of ProgramArray MAP, for
                                   bpf_tail_call (repeatable)
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
    /// `--prog-array`: tail-call targets, filled before any attach.
    pub prog_arrays: Vec<ProgArraySpec>,
}

/// `--prog-array MAP=INDEX:PROGRAM,...`.
#[derive(Debug)]
pub struct ProgArraySpec {
    pub map: String,
    pub entries: Vec<(u32, String)>,
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
    TracePoint {
        category: String,
        name: String,
    },
    RawTracePoint {
        name: String,
    },
    KProbe {
        function: String,
    },
    KRetProbe {
        function: String,
    },
    FEntry {
        function: String,
    },
    FExit {
        function: String,
    },
    UProbe {
        binary: PathBuf,
        location: UprobeLocation,
        ret: bool,
    },
    Xdp {
        interface: String,
    },
    TcIngress {
        interface: String,
    },
    TcEgress {
        interface: String,
    },
    CgroupSkb {
        cgroup: PathBuf,
        egress: bool,
    },
    SocketFilter {
        interface: String,
    },
    Lsm {
        hook: String,
    },
}

/// Where in a binary a uprobe goes.
#[derive(Debug, PartialEq)]
pub enum UprobeLocation {
    /// A symbol of the binary's symbol tables, plus an offset into it.
    Symbol { name: String, offset: u64 },
    /// A file offset in the binary.
    Offset(u64),
}

impl std::fmt::Display for UprobeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UprobeLocation::Symbol { name, offset: 0 } => write!(f, "{name}"),
            UprobeLocation::Symbol { name, offset } => write!(f, "{name}+{offset:#x}"),
            UprobeLocation::Offset(offset) => write!(f, "{offset:#x}"),
        }
    }
}

impl Target {
    /// The `type` reported for the program in the `ready` line.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::TracePoint { .. } => "tracepoint",
            Target::RawTracePoint { .. } => "raw_tracepoint",
            Target::KProbe { .. } => "kprobe",
            Target::KRetProbe { .. } => "kretprobe",
            Target::FEntry { .. } => "fentry",
            Target::FExit { .. } => "fexit",
            Target::UProbe { ret: false, .. } => "uprobe",
            Target::UProbe { ret: true, .. } => "uretprobe",
            Target::Xdp { .. } => "xdp",
            Target::TcIngress { .. } | Target::TcEgress { .. } => "tc",
            Target::CgroupSkb { .. } => "cgroup_skb",
            Target::SocketFilter { .. } => "socket_filter",
            Target::Lsm { .. } => "lsm",
        }
    }

    /// The `attach` point reported in the `ready` line. For XDP the loader
    /// adds the mode when it had to fall back to generic (skb) mode.
    pub fn point(&self) -> String {
        match self {
            Target::TracePoint { category, name } => format!("{category}/{name}"),
            Target::RawTracePoint { name } => name.clone(),
            Target::KProbe { function }
            | Target::KRetProbe { function }
            | Target::FEntry { function }
            | Target::FExit { function } => function.clone(),
            Target::UProbe {
                binary, location, ..
            } => format!("{}:{location}", binary.display()),
            Target::Xdp { interface } => interface.clone(),
            Target::TcIngress { interface } => format!("{interface} ingress"),
            Target::TcEgress { interface } => format!("{interface} egress"),
            Target::CgroupSkb { cgroup, egress } => format!(
                "{} {}",
                cgroup.display(),
                if *egress { "egress" } else { "ingress" }
            ),
            Target::SocketFilter { interface } => format!("packet socket on {interface}"),
            Target::Lsm { hook } => hook.clone(),
        }
    }
}

/// Listed in the error for an unknown kind.
const SUPPORTED_KINDS: &str = "tracepoint, raw_tracepoint, kprobe, kretprobe, fentry, fexit, \
uprobe, uretprobe, xdp, tc-ingress, tc-egress, cgroup-skb-ingress, cgroup-skb-egress, \
socket-filter, lsm";

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
    let mut prog_arrays = Vec::new();

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
            "--prog-array" => prog_arrays.push(parse_prog_array(&value()?)?),
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
            prog_arrays,
        }));
    }
    for (flag, given) in [
        ("--attach", !attach.is_empty()),
        ("--ringbuf", !ringbufs.is_empty()),
        ("--perf", !perf_arrays.is_empty()),
        ("--btf-offset", !btf_offsets.is_empty()),
        ("--btf-field", !btf_fields.is_empty()),
        ("--prog-array", !prog_arrays.is_empty()),
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
    let function = |kind: &str| match point {
        "" => Err(format!(
            "{kind} target must be a kernel function name, got `{point}`"
        )),
        _ if point.contains(['/', ' ', ':']) => Err(format!(
            "{kind} target must be a kernel function name, got `{point}`"
        )),
        _ => Ok(point.to_owned()),
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
        "raw_tracepoint" => Target::RawTracePoint {
            name: function(kind)
                .map_err(|_| format!("raw_tracepoint target must be a tracepoint name (sched_process_exec), got `{point}`"))?,
        },
        "kprobe" => Target::KProbe {
            function: function(kind)?,
        },
        "kretprobe" => Target::KRetProbe {
            function: function(kind)?,
        },
        "fentry" => Target::FEntry {
            function: function(kind)?,
        },
        "fexit" => Target::FExit {
            function: function(kind)?,
        },
        "lsm" => Target::Lsm {
            hook: function(kind)
                .map_err(|_| format!("lsm target must be an LSM hook name (file_open), got `{point}`"))?,
        },
        "uprobe" | "uretprobe" => {
            let (binary, location) = parse_uprobe(kind, point)?;
            Target::UProbe {
                binary,
                location,
                ret: kind == "uretprobe",
            }
        }
        "xdp" => Target::Xdp {
            interface: parse_interface(kind, point)?,
        },
        "tc-ingress" => Target::TcIngress {
            interface: parse_interface(kind, point)?,
        },
        "tc-egress" => Target::TcEgress {
            interface: parse_interface(kind, point)?,
        },
        "cgroup-skb-ingress" | "cgroup-skb-egress" => {
            if !point.starts_with('/') {
                return Err(format!(
                    "{kind} target must be the absolute path of a cgroup v2 directory, got `{point}`"
                ));
            }
            Target::CgroupSkb {
                cgroup: PathBuf::from(point),
                egress: kind == "cgroup-skb-egress",
            }
        }
        "socket-filter" => match point.split_once(':') {
            Some(("packet", interface)) => Target::SocketFilter {
                interface: parse_interface(kind, interface)?,
            },
            _ => {
                return Err(format!(
                    "socket-filter target must be packet:INTERFACE, got `{point}`"
                ));
            }
        },
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

/// `BINARY:SYMBOL[+OFFSET]` or `BINARY:0xOFFSET`; the last colon splits,
/// so the binary's path may hold colons.
fn parse_uprobe(kind: &str, point: &str) -> Result<(PathBuf, UprobeLocation), String> {
    let bad = || {
        format!("{kind} target must be BINARY:SYMBOL[+OFFSET] or BINARY:0xOFFSET, got `{point}`")
    };
    let (binary, location) = point.rsplit_once(':').ok_or_else(bad)?;
    if binary.is_empty() || location.is_empty() {
        return Err(bad());
    }
    let number = |text: &str| match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    let location = if location.starts_with("0x") {
        UprobeLocation::Offset(number(location).ok_or_else(bad)?)
    } else {
        match location.split_once('+') {
            Some((name, offset)) if !name.is_empty() => UprobeLocation::Symbol {
                name: name.to_owned(),
                offset: number(offset).ok_or_else(bad)?,
            },
            Some(_) => return Err(bad()),
            None => UprobeLocation::Symbol {
                name: location.to_owned(),
                offset: 0,
            },
        }
    };
    Ok((PathBuf::from(binary), location))
}

/// `MAP=INDEX:PROGRAM[,INDEX:PROGRAM...]`.
fn parse_prog_array(spec: &str) -> Result<ProgArraySpec, String> {
    let (map, list) = split_assignment("--prog-array", spec)?;
    let entries = list
        .split(',')
        .map(|entry| match entry.split_once(':') {
            Some((index, program)) if !program.is_empty() => index
                .parse::<u32>()
                .map(|index| (index, program.to_owned()))
                .map_err(|_| ()),
            _ => Err(()),
        })
        .collect::<Result<Vec<_>, ()>>()
        .map_err(|()| {
            format!("--prog-array expects MAP=INDEX:PROGRAM[,INDEX:PROGRAM...], got `{spec}`")
        })?;
    Ok(ProgArraySpec {
        map: map.to_owned(),
        entries,
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
    fn every_attach_kind() {
        let Ok(Parsed::Run(args)) = args(&[
            "--object",
            "o",
            "--attach=a=kretprobe:vfs_read",
            "--attach=b=raw_tracepoint:sched_process_exec",
            "--attach=c=fentry:vfs_read",
            "--attach=d=fexit:vfs_read",
            "--attach=e=uprobe:/usr/bin/x:kmatrix_probe_target",
            "--attach=f=uretprobe:/opt/a:b/x:sym+0x10",
            "--attach=g=uprobe:/usr/bin/x:0x1130",
            "--attach=h=tc-egress:veth-a",
            "--attach=i=cgroup-skb-ingress:/sys/fs/cgroup/kmx",
            "--attach=j=cgroup-skb-egress:/sys/fs/cgroup/kmx",
            "--attach=k=socket-filter:packet:veth-b",
            "--attach=l=lsm:file_open",
            "--prog-array",
            "JUMP=0:first,3:second",
        ]) else {
            panic!("should parse");
        };
        let points: Vec<_> = args
            .attach
            .iter()
            .map(|a| (a.target.kind(), a.target.point()))
            .collect();
        let expected = [
            ("kretprobe", "vfs_read"),
            ("raw_tracepoint", "sched_process_exec"),
            ("fentry", "vfs_read"),
            ("fexit", "vfs_read"),
            ("uprobe", "/usr/bin/x:kmatrix_probe_target"),
            ("uretprobe", "/opt/a:b/x:sym+0x10"),
            ("uprobe", "/usr/bin/x:0x1130"),
            ("tc", "veth-a egress"),
            ("cgroup_skb", "/sys/fs/cgroup/kmx ingress"),
            ("cgroup_skb", "/sys/fs/cgroup/kmx egress"),
            ("socket_filter", "packet socket on veth-b"),
            ("lsm", "file_open"),
        ];
        assert_eq!(points, expected.map(|(k, p)| (k, p.to_owned())).to_vec());
        assert_eq!(args.prog_arrays[0].map, "JUMP");
        assert_eq!(
            args.prog_arrays[0].entries,
            [(0, "first".to_owned()), (3, "second".to_owned())]
        );
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            &["--attach", "p=tracepoint:sched"][..],
            &["--object", "o", "--attach", "p=kretprobe:"],
            &["--object", "o", "--attach", "p=fentry:a b"],
            &["--object", "o", "--attach", "p=uprobe:/bin/true"],
            &["--object", "o", "--attach", "p=uprobe:/bin/true:sym+zz"],
            &["--object", "o", "--attach", "p=uprobe::sym"],
            &["--object", "o", "--attach", "p=uretprobe:/bin/true:0xzz"],
            &[
                "--object",
                "o",
                "--attach",
                "p=cgroup-skb-egress:sys/fs/cgroup",
            ],
            &["--object", "o", "--attach", "p=socket-filter:eth0"],
            &["--object", "o", "--attach", "p=socket-filter:udp:53"],
            &["--object", "o", "--prog-array", "JUMP=x:prog"],
            &["--object", "o", "--prog-array", "JUMP=0:"],
            &["--object", "o", "--prog-array", "JUMP"],
            &["--object", "o", "--attach", "p=kprobe:"],
            &["--object", "o", "--attach", "p=kprobe:a/b"],
            &["--object", "o", "--attach", "p=bogus:x"],
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
