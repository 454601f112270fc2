//! Command-line parsing. Hand-rolled: the grammar is a few repeatable
//! `--flag VALUE` options, and every mistake has to surface as a protocol
//! `error` line (stage `parse`), not as free-form usage text.

use std::path::PathBuf;

use crate::types::{self, TypeDef};

pub const USAGE: &str = "\
usage: kmatrix-loader --object PATH [options]
       kmatrix-loader --census

  --census                       print the ids and names of every BPF program
                                   and map loaded in the kernel, and exit

  --object PATH                  eBPF object (ELF) to load
  --attach PROGRAM=KIND:TARGET   load PROGRAM and attach it (repeatable)
                                   tracepoint:CATEGORY/NAME
                                   kprobe:FUNCTION
                                   xdp:INTERFACE
                                   tc-ingress:INTERFACE
  --ringbuf MAP=TYPE             stream records of ring buffer MAP (repeatable)
  --perf MAP=TYPE                stream records of perf event array MAP, one
                                   buffer per online CPU (repeatable)
  --map MAP=KEY:VALUE            dump MAP at exit (repeatable)
  --btf-offset GLOBAL=STRUCT.FIELD
                                 before load, set the u32 global GLOBAL to
                                   FIELD's byte offset in the running kernel's
                                   BTF (repeatable)
  --btf-field STRUCT.FIELD       only report FIELD's offset (repeatable)

TYPE, KEY and VALUE name decoders: {types}.
FIELD may be a path (`task_struct.se.vruntime`); every offset resolved is
listed in the `ready` line's `offsets`.
Runs until stdin reaches EOF or SIGTERM/SIGINT; stdout carries only JSON lines.";

#[derive(Debug)]
pub struct Args {
    pub object: PathBuf,
    pub attach: Vec<Attach>,
    pub ringbufs: Vec<RingBufSpec>,
    /// `--perf`: PerfEventArray maps, read on every online CPU.
    pub perf_arrays: Vec<RingBufSpec>,
    pub maps: Vec<MapSpec>,
    pub btf_offsets: Vec<BtfOffset>,
    /// `--btf-field`: resolved and reported, but not written anywhere.
    pub btf_fields: Vec<String>,
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
/// decoded as `decoder`.
pub struct RingBufSpec {
    pub map: String,
    pub decoder: &'static TypeDef,
}

pub struct MapSpec {
    pub map: String,
    pub key: &'static TypeDef,
    pub value: &'static TypeDef,
}

// TypeDef holds fn pointers; Debug shows the type name only.
impl std::fmt::Debug for RingBufSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.map, self.decoder.name)
    }
}

impl std::fmt::Debug for MapSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}:{}", self.map, self.key.name, self.value.name)
    }
}

pub enum Parsed {
    Run(Args),
    Help,
    /// `--census`: what the kernel has loaded, to check that a VM is clean.
    Census,
}

pub fn usage() -> String {
    USAGE.replace("{types}", &types::names())
}

pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut object = None;
    let mut attach = Vec::new();
    let mut ringbufs = Vec::new();
    let mut perf_arrays = Vec::new();
    let mut maps = Vec::new();
    let mut btf_offsets = Vec::new();
    let mut btf_fields = Vec::new();

    while let Some(arg) = argv.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        if arg == "--census" {
            return Ok(Parsed::Census);
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
            "--btf-offset" => btf_offsets.push(parse_btf_offset(&value()?)?),
            "--btf-field" => btf_fields.push(parse_btf_field("--btf-field", &value()?)?),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }

    let object = object.ok_or("--object is required")?;
    Ok(Parsed::Run(Args {
        object,
        attach,
        ringbufs,
        perf_arrays,
        maps,
        btf_offsets,
        btf_fields,
    }))
}

fn split_assignment<'a>(flag: &str, spec: &'a str) -> Result<(&'a str, &'a str), String> {
    match spec.split_once('=') {
        Some((name, rest)) if !name.is_empty() && !rest.is_empty() => Ok((name, rest)),
        _ => Err(format!("{flag} expects NAME=VALUE, got `{spec}`")),
    }
}

fn lookup_type(name: &str) -> Result<&'static TypeDef, String> {
    types::lookup(name).ok_or_else(|| format!("unknown type `{name}` (known: {})", types::names()))
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

fn parse_stream(flag: &str, spec: &str) -> Result<RingBufSpec, String> {
    let (map, decoder) = split_assignment(flag, spec)?;
    Ok(RingBufSpec {
        map: map.to_owned(),
        decoder: lookup_type(decoder)?,
    })
}

fn parse_map(spec: &str) -> Result<MapSpec, String> {
    let (map, kv) = split_assignment("--map", spec)?;
    let Some((key, value)) = kv.split_once(':') else {
        return Err(format!("--map expects MAP=KEY:VALUE, got `{spec}`"));
    };
    Ok(MapSpec {
        map: map.to_owned(),
        key: lookup_type(key)?,
        value: lookup_type(value)?,
    })
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
            "EXEC_EVENTS=exec_event",
            "--perf=PERF_EVENTS=exec_event",
            "--map",
            "EXECS_BY_UID=u32:u64",
            "--btf-offset",
            "TASK_TGID_OFF=task_struct.tgid",
            "--btf-field=task_struct.se.vruntime",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(args.object, PathBuf::from("exec"));
        assert_eq!(args.attach[0].program, "sched_process_exec");
        assert_eq!(args.attach[0].target.point(), "sched/sched_process_exec");
        assert_eq!(args.ringbufs[0].decoder.name, "exec_event");
        assert_eq!(args.perf_arrays[0].map, "PERF_EVENTS");
        assert_eq!(args.perf_arrays[0].decoder.name, "exec_event");
        assert_eq!(
            (args.maps[0].key.name, args.maps[0].value.name),
            ("u32", "u64")
        );
        assert_eq!(args.btf_offsets[0].global, "TASK_TGID_OFF");
        assert_eq!(args.btf_offsets[0].field, "task_struct.tgid");
        assert_eq!(args.btf_fields, ["task_struct.se.vruntime"]);
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
            &["--object", "o", "--ringbuf", "M=nope"],
            &["--object", "o", "--perf", "M=nope"],
            &["--object", "o", "--perf", "M"],
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
