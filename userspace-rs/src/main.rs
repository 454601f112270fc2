//! kmatrix-loader: loads an eBPF object, attaches its programs, and reports
//! what they do as JSON lines on stdout (see `output.rs` for the protocol).
//!
//! Lifecycle: load -> attach all -> `ready` -> stream ring buffer and perf
//! buffer events until stdin reaches EOF or SIGTERM/SIGINT -> detach -> drain
//! what is left -> `map` dumps -> `stats` -> exit 0. Any failure prints one
//! `error` line and exits 1.
//!
//! With `--live` (see `live.rs`) it loads nothing and dumps the maps of a
//! program that is already running.
//!
//! Records and map entries are decoded by type, from the object's DWARF
//! (`catalog.rs`, `dwarf.rs`, `decode.rs`): no code per struct.

mod btf;
mod catalog;
mod cli;
mod decode;
mod dump;
mod dwarf;
mod live;
mod output;
mod prog_load_log;
mod run_stats;
#[cfg(test)]
mod test_objects;
mod types;
mod verifier_stats;

use std::{
    collections::{BTreeMap, HashSet},
    future::poll_fn,
    io,
    process::ExitCode,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use aya::{
    EbpfLoader,
    maps::{
        MapData, PerfEventArray, RingBuf,
        perf::{PerfEvent, PerfEventArrayBuffer},
    },
    programs::{
        CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, FEntry, FExit, KProbe, Lsm, ProbeKind,
        Program, ProgramError, RawTracePoint, SchedClassifier, SocketFilter, TcAttachType,
        TracePoint, UProbe, Xdp, XdpMode,
        tc::{self, TcError},
        uprobe::{UProbeAttachLocation, UProbeScope},
    },
};
use aya_log::EbpfLogger;
use serde_json::{Value, json};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    sync::oneshot,
};

use crate::{
    catalog::Catalog,
    cli::{Args, Parsed, Target, UprobeLocation},
    decode::decode,
    output::{Failure, Stage, emit, fail},
    types::Type,
};

fn main() -> ExitCode {
    log::set_logger(&StderrLog).ok();
    log::set_max_level(match std::env::var("KMATRIX_LOADER_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("info") => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    });

    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Live(args)) => return finish(live::run(&args)),
        Ok(Parsed::Help) => {
            eprintln!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Census) => return census(),
        Err(message) => {
            eprintln!("{}", cli::usage());
            Failure::new(Stage::Parse, message).emit();
            return ExitCode::FAILURE;
        }
    };

    raise_memlock_limit();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            Failure::new(Stage::Run, format!("starting tokio runtime: {e}")).emit();
            return ExitCode::FAILURE;
        }
    };
    finish(runtime.block_on(run(args)))
}

/// The exit code of a run; a failure is reported on stderr and as the
/// `error` line.
fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!(
                "kmatrix-loader: {} failed: {}",
                failure.stage.as_str(),
                failure.message
            );
            failure.emit();
            ExitCode::FAILURE
        }
    }
}

/// One `census` line: every program and map the kernel has loaded, by id
/// and name. The harness compares it before and after a test file to prove
/// that nothing the file loaded outlived it.
fn census() -> ExitCode {
    let programs: Result<Vec<Value>, _> = aya::programs::loaded_programs()
        .map(|p| p.map(|p| json!({ "id": p.id(), "name": p.name_as_str().unwrap_or("") })))
        .collect();
    let maps: Result<Vec<Value>, _> = aya::maps::loaded_maps()
        .map(|m| m.map(|m| json!({ "id": m.id(), "name": m.name_as_str().unwrap_or("") })))
        .collect();
    match (programs, maps) {
        (Ok(programs), Ok(maps)) => {
            output::emit("census", json!({ "programs": programs, "maps": maps }));
            ExitCode::SUCCESS
        }
        (Err(e), _) => {
            Failure::new(Stage::Run, format!("listing loaded programs: {e}")).emit();
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            Failure::new(Stage::Run, format!("listing loaded maps: {e}")).emit();
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    // Installed before anything is loaded so a SIGTERM that arrives early is
    // queued and handled as a normal shutdown instead of killing us mid-way.
    let shutdown = shutdown_signal().map_err(fail(Stage::Run))?;

    let object = std::fs::read(&args.object).map_err(|e| {
        Failure::new(
            Stage::Parse,
            format!("reading {}: {e}", args.object.display()),
        )
    })?;
    let offsets = resolve_offsets(&args)?;
    let mut loader = EbpfLoader::new();
    // `offsets` starts with the --btf-offset fields, in the same order.
    for (spec, (_, offset)) in args.btf_offsets.iter().zip(&offsets) {
        loader.override_global(&spec.global, offset, true);
    }
    // Where the time goes, reported in `ready`: the object's load (maps,
    // BTF, relocations), the verifier (every program's BPF_PROG_LOAD), and
    // attaching.
    let load_started = Instant::now();
    let mut ebpf = loader.load(&object).map_err(|e| {
        let stage = match e {
            aya::EbpfError::ParseError(_) => Stage::Parse,
            _ => Stage::Load,
        };
        fail(stage)(e)
    })?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1000.0;

    let mut map_names: Vec<String> = ebpf.maps().map(|(name, _)| name.to_owned()).collect();
    map_names.sort();

    // Validate every spec against the object before loading any program.
    let parse_error = |message: String| Failure::new(Stage::Parse, message);
    let mut catalog = Catalog::new(&args.object, &object);
    for field in &args.keep_bytes {
        catalog
            .keep_bytes(&field.type_name, &field.field)
            .map_err(parse_error)?;
    }
    let mut dumps = Vec::new();
    for spec in &args.maps {
        let map = ebpf
            .map(&spec.map)
            .ok_or_else(|| missing("map", &spec.map, &map_names))?;
        let named = spec.types.as_ref().map(|(k, v)| (k.as_str(), v.as_str()));
        let types = catalog.map_types(&spec.map, named).map_err(parse_error)?;
        dump::check(&spec.map, map, &types).map_err(parse_error)?;
        dumps.push((spec.map.as_str(), types));
    }
    let record_type = |flag: &str, spec: &cli::StreamSpec| {
        let ty = catalog
            .type_named(&spec.type_name)
            .map_err(|e| parse_error(format!("{flag} {}: {e}", spec.map)))?;
        Ok::<_, Failure>(RecordType {
            name: spec.type_name.clone(),
            ty,
        })
    };
    let mut sources = Vec::new();
    for spec in &args.ringbufs {
        // take_map: the reader owns the map; a second --ringbuf for the same
        // map therefore reports it as missing.
        let map = ebpf
            .take_map(&spec.map)
            .ok_or_else(|| missing("map", &spec.map, &map_names))?;
        let ring = RingBuf::try_from(map).map_err(|e| {
            Failure::new(
                Stage::Parse,
                format!(
                    "--ringbuf {}: not a ring buffer ({})",
                    spec.map,
                    output::error_chain(&e)
                ),
            )
        })?;
        sources.push(Source::Events {
            map: spec.map.clone(),
            record_type: record_type("--ringbuf", spec)?,
            ring: watch(Counted {
                inner: ring,
                count: 0,
            })?,
        });
    }
    for spec in &args.perf_arrays {
        let map = ebpf
            .take_map(&spec.map)
            .ok_or_else(|| missing("map", &spec.map, &map_names))?;
        let mut array = PerfEventArray::try_from(map).map_err(|e| {
            Failure::new(
                Stage::Parse,
                format!(
                    "--perf {}: not a perf event array ({})",
                    spec.map,
                    output::error_chain(&e)
                ),
            )
        })?;
        let cpus = aya::util::online_cpus().map_err(|(path, e)| {
            Failure::new(
                Stage::Load,
                format!("--perf {}: reading {path}: {e}", spec.map),
            )
        })?;
        let mut buffers = Vec::new();
        for cpu in cpus {
            let buffer = array.open(cpu, Some(PERF_PAGES)).map_err(|e| {
                Failure::new(
                    Stage::Load,
                    format!(
                        "--perf {}: opening the buffer of cpu {cpu}: {}",
                        spec.map,
                        output::error_chain(&e)
                    ),
                )
            })?;
            buffers.push(watch(buffer)?);
        }
        sources.push(Source::Perf {
            map: spec.map.clone(),
            record_type: record_type("--perf", spec)?,
            buffers,
            count: 0,
            lost: 0,
        });
    }
    // Objects built with aya-log-ebpf carry an AYA_LOGS ring buffer; forward
    // its records as `log` lines.
    if map_names.iter().any(|name| name == "AYA_LOGS") {
        let logger = EbpfLogger::init_with_logger(&mut ebpf, JsonLog).map_err(fail(Stage::Load))?;
        sources.push(Source::Logs(watch(logger)?));
    }

    let program_names: Vec<String> = ebpf.programs().map(|(name, _)| name.to_owned()).collect();
    let mut loaded = HashSet::new();
    // Each program's verifier figures, for `ready`.
    let mut verifier = serde_json::Map::new();
    // On before anything loads, so the `stats` line counts every run of
    // every program from its attach on (see run_stats.rs).
    let run_stats = run_stats::RunStats::enable();
    let attach_started = Instant::now();
    let mut verify = Duration::ZERO;
    // Tail-call targets: loaded and put in their ProgramArrays before any
    // program is attached, so no caller ever runs with an empty slot. The
    // arrays are held until exit: the kernel empties a ProgramArray when
    // its last user-space reference goes.
    let mut prog_arrays = Vec::new();
    for spec in &args.prog_arrays {
        let map = ebpf
            .take_map(&spec.map)
            .ok_or_else(|| missing("map", &spec.map, &map_names))?;
        let mut array = aya::maps::ProgramArray::try_from(map).map_err(|e| {
            parse_error(format!(
                "--prog-array {}: not a program array ({})",
                spec.map,
                output::error_chain(&e)
            ))
        })?;
        for (index, name) in &spec.entries {
            let program = ebpf
                .program_mut(name)
                .ok_or_else(|| missing("program", name, &program_names))?;
            if loaded.insert(name.clone()) {
                let started = Instant::now();
                let (result, log) = prog_load_log::capture(|| load_any(program, name));
                result?;
                verify += started.elapsed();
                verifier.insert(
                    name.clone(),
                    program_figures(program.info(), log, started.elapsed()),
                );
            }
            let fd = program.fd().map_err(fail(Stage::Load))?;
            array.set(*index, fd, 0).map_err(|e| {
                Failure::new(
                    Stage::Load,
                    format!(
                        "--prog-array {}: putting {name} at index {index}: {}",
                        spec.map,
                        output::error_chain(&e)
                    ),
                )
            })?;
        }
        prog_arrays.push(array);
    }
    // The kernel's BTF, read once, for fentry, fexit and lsm.
    let mut kernel_btf: Option<aya::Btf> = None;
    // Sockets and cgroup directories the programs hang off, held until exit.
    let mut held_fds: Vec<std::os::fd::OwnedFd> = Vec::new();
    let mut ready_programs = Vec::new();
    for attach in &args.attach {
        let program = ebpf
            .program_mut(&attach.program)
            .ok_or_else(|| missing("program", &attach.program, &program_names))?;
        let name = attach.program.as_str();
        let target = &attach.target;
        // What the errors call the attach point: kind and target.
        let to = format!("{} {}", target.kind(), target.point());
        let attach_error = |e: ProgramError| attach_failure(name, &to, e);
        // One program may be attached at several points; load it once.
        // `$program` is the program as the load left it, to read its figures.
        macro_rules! load_once {
            ($program:ident, $load:expr) => {
                if loaded.insert(attach.program.clone()) {
                    let started = Instant::now();
                    let (result, log) = prog_load_log::capture(|| $load);
                    result?;
                    verify += started.elapsed();
                    let figures = program_figures($program.info(), log, started.elapsed());
                    verifier.insert(attach.program.clone(), figures);
                }
            };
        }
        let point = match target {
            Target::TracePoint { category, name } => {
                ensure_tracefs();
                let tp: &mut TracePoint = program_as(program, &attach.program, "a tracepoint")?;
                load_once!(
                    tp,
                    tp.load().map_err(|e| verify_failure(&attach.program, e))
                );
                tp.attach(category, name).map_err(attach_error)?;
                target.point()
            }
            Target::RawTracePoint { name: tp_name } => {
                let tp: &mut RawTracePoint = program_as(program, name, "a raw tracepoint")?;
                load_once!(tp, tp.load().map_err(|e| verify_failure(name, e)));
                tp.attach(tp_name).map_err(attach_error)?;
                target.point()
            }
            Target::KProbe { function } | Target::KRetProbe { function } => {
                let kprobe: &mut KProbe = program_as(program, name, "a kprobe")?;
                let is_return = matches!(kprobe.kind(), ProbeKind::Return);
                if is_return != matches!(target, Target::KRetProbe { .. }) {
                    return Err(kind_mismatch(name, target.kind(), "kprobe", "kretprobe"));
                }
                load_once!(kprobe, kprobe.load().map_err(|e| verify_failure(name, e)));
                kprobe.attach(function, 0).map_err(attach_error)?;
                target.point()
            }
            Target::FEntry { function } => {
                let btf = kernel_btf_for(&mut kernel_btf, name, &to)?;
                let fentry: &mut FEntry = program_as(program, name, "an fentry program")?;
                load_once!(
                    fentry,
                    fentry
                        .load(function, btf)
                        .map_err(|e| btf_load_failure(name, &to, e))
                );
                fentry.attach().map_err(attach_error)?;
                target.point()
            }
            Target::FExit { function } => {
                let btf = kernel_btf_for(&mut kernel_btf, name, &to)?;
                let fexit: &mut FExit = program_as(program, name, "an fexit program")?;
                load_once!(
                    fexit,
                    fexit
                        .load(function, btf)
                        .map_err(|e| btf_load_failure(name, &to, e))
                );
                fexit.attach().map_err(attach_error)?;
                target.point()
            }
            Target::Lsm { hook } => {
                let btf = kernel_btf_for(&mut kernel_btf, name, &to)?;
                bpf_lsm_active().map_err(|why| {
                    Failure::new(Stage::Attach, format!("attaching {name} to {to}: {why}"))
                })?;
                let lsm: &mut Lsm = program_as(program, name, "an LSM program")?;
                load_once!(
                    lsm,
                    lsm.load(hook, btf)
                        .map_err(|e| btf_load_failure(name, &to, e))
                );
                lsm.attach().map_err(attach_error)?;
                target.point()
            }
            Target::UProbe {
                binary,
                location,
                ret,
            } => {
                let uprobe: &mut UProbe = program_as(program, name, "a uprobe")?;
                if matches!(uprobe.kind(), ProbeKind::Return) != *ret {
                    return Err(kind_mismatch(name, target.kind(), "uprobe", "uretprobe"));
                }
                load_once!(uprobe, uprobe.load().map_err(|e| verify_failure(name, e)));
                let location = match location {
                    UprobeLocation::Symbol { name, offset: 0 } => {
                        UProbeAttachLocation::Symbol(name)
                    }
                    UprobeLocation::Symbol { name, offset } => {
                        UProbeAttachLocation::SymbolOffset(name, *offset)
                    }
                    UprobeLocation::Offset(offset) => UProbeAttachLocation::AbsoluteOffset(*offset),
                };
                uprobe
                    .attach(location, binary, UProbeScope::AllProcesses)
                    .map_err(attach_error)?;
                target.point()
            }
            Target::Xdp { interface } => {
                let xdp: &mut Xdp = program_as(program, &attach.program, "an XDP program")?;
                load_once!(
                    xdp,
                    xdp.load().map_err(|e| verify_failure(&attach.program, e))
                );
                // Default mode lets the kernel use the driver's native XDP
                // where it has one; some drivers have one that refuses in
                // their current configuration (virtio-net with guest
                // offloads on, for one). Generic mode works on every device.
                match xdp.attach(interface, XdpMode::default()) {
                    Ok(_) => target.point(),
                    Err(e) if is_unsupported(&e) => {
                        eprintln!(
                            "kmatrix-loader: native XDP on {interface} refused ({}), using skb mode",
                            output::error_chain(&e)
                        );
                        xdp.attach(interface, XdpMode::Skb).map_err(attach_error)?;
                        format!("{} (skb)", target.point())
                    }
                    Err(e) => return Err(attach_error(e)),
                }
            }
            Target::TcIngress { interface } | Target::TcEgress { interface } => {
                let classifier: &mut SchedClassifier =
                    program_as(program, &attach.program, "a TC classifier")?;
                load_once!(
                    classifier,
                    classifier
                        .load()
                        .map_err(|e| verify_failure(&attach.program, e))
                );
                add_clsact(interface)?;
                let direction = match target {
                    Target::TcIngress { .. } => TcAttachType::Ingress,
                    _ => TcAttachType::Egress,
                };
                classifier
                    .attach(interface, direction)
                    .map_err(attach_error)?;
                target.point()
            }
            Target::CgroupSkb { cgroup, egress } => {
                let skb: &mut CgroupSkb = program_as(program, name, "a cgroup_skb program")?;
                load_once!(skb, skb.load().map_err(|e| verify_failure(name, e)));
                let dir = std::fs::File::open(cgroup).map_err(|e| {
                    Failure::new(
                        Stage::Attach,
                        format!("attaching {name} to {to}: opening the cgroup directory: {e}"),
                    )
                })?;
                let direction = if *egress {
                    CgroupSkbAttachType::Egress
                } else {
                    CgroupSkbAttachType::Ingress
                };
                skb.attach(&dir, direction, CgroupAttachMode::Single)
                    .map_err(attach_error)?;
                held_fds.push(dir.into());
                target.point()
            }
            Target::SocketFilter { interface } => {
                let filter: &mut SocketFilter = program_as(program, name, "a socket filter")?;
                load_once!(filter, filter.load().map_err(|e| verify_failure(name, e)));
                let socket = packet_socket(interface).map_err(|e| {
                    Failure::new(
                        Stage::Attach,
                        format!("attaching {name} to {to}: opening the packet socket: {e}"),
                    )
                })?;
                filter.attach(&socket).map_err(attach_error)?;
                held_fds.push(socket);
                target.point()
            }
        };
        ready_programs.push(json!({
            "name": attach.program,
            "type": target.kind(),
            "attach": point,
        }));
    }

    let verify_ms = verify.as_secs_f64() * 1000.0;
    let attach_ms = attach_started.elapsed().as_secs_f64() * 1000.0 - verify_ms;
    let round = |ms: f64| (ms * 10.0).round() / 10.0;
    let mut ready_line = json!({
        "programs": ready_programs,
        "maps": map_names,
        "kernel": kernel_release(),
        "timings": { "loadMs": round(load_ms), "verifyMs": round(verify_ms), "attachMs": round(attach_ms) },
        "verifier": verifier,
    });
    // Only when asked for, so the line is unchanged for everyone else.
    if !offsets.is_empty() {
        let offsets: serde_json::Map<String, Value> = offsets
            .iter()
            .map(|(field, offset)| (field.to_string(), json!(offset)))
            .collect();
        ready_line["offsets"] = Value::Object(offsets);
    }
    emit("ready", ready_line);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            reason = &mut shutdown => {
                eprintln!("kmatrix-loader: {reason}, shutting down");
                break;
            }
            result = poll_fn(|cx| poll_sources(&mut sources, cx)) => result.map_err(fail(Stage::Run))?,
        }
    }

    // Read before detaching: unloading closes the programs.
    let runs = run_stats.read(&ebpf, &loaded);

    // Detach first so nothing new is produced, then drain: every event
    // submitted before shutdown is reported, and the map dumps below agree
    // with the events that were streamed.
    for name in &loaded {
        let result = match ebpf.program_mut(name) {
            Some(Program::TracePoint(tp)) => tp.unload(),
            Some(Program::KProbe(kprobe)) => kprobe.unload(),
            Some(Program::Xdp(xdp)) => xdp.unload(),
            Some(Program::SchedClassifier(classifier)) => classifier.unload(),
            Some(Program::RawTracePoint(tp)) => tp.unload(),
            Some(Program::FEntry(fentry)) => fentry.unload(),
            Some(Program::FExit(fexit)) => fexit.unload(),
            Some(Program::UProbe(uprobe)) => uprobe.unload(),
            Some(Program::CgroupSkb(skb)) => skb.unload(),
            Some(Program::SocketFilter(filter)) => filter.unload(),
            Some(Program::Lsm(lsm)) => lsm.unload(),
            _ => Ok(()),
        };
        if let Err(e) = result {
            eprintln!(
                "kmatrix-loader: detaching {name}: {}",
                output::error_chain(&e)
            );
        }
    }
    drop(held_fds);
    drop(prog_arrays);
    for source in &mut sources {
        source.drain();
    }

    for (name, types) in &dumps {
        let map = ebpf
            .map(name)
            .ok_or_else(|| missing("map", name, &map_names))?;
        let body = dump::dump(name, map, types).map_err(|m| Failure::new(Stage::Run, m))?;
        emit("map", body);
    }

    let per_map: BTreeMap<&str, u64> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Events { map, ring, .. } => Some((map.as_str(), ring.get_ref().count)),
            Source::Perf { map, count, .. } => Some((map.as_str(), *count)),
            Source::Logs(_) => None,
        })
        .collect();
    let mut stats =
        json!({ "events": per_map.values().sum::<u64>(), "perMap": per_map, "runs": runs });
    // Only with --perf, so the line is unchanged for everyone else.
    if !args.perf_arrays.is_empty() {
        let lost: BTreeMap<&str, u64> = sources
            .iter()
            .filter_map(|s| match s {
                Source::Perf { map, lost, .. } => Some((map.as_str(), *lost)),
                _ => None,
            })
            .collect();
        stats["lost"] = json!(lost);
    }
    emit("stats", stats);
    Ok(())
}

/// The byte offset in the running kernel's BTF of each `--btf-offset`
/// field, then of each `--btf-field`, in command-line order. Resolved before
/// load because `--btf-offset` values must be in the object's globals when
/// its maps are created.
fn resolve_offsets(args: &Args) -> Result<Vec<(&str, u32)>, Failure> {
    let fields: Vec<&str> = args
        .btf_offsets
        .iter()
        .map(|spec| spec.field.as_str())
        .chain(args.btf_fields.iter().map(String::as_str))
        .collect();
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let load_error = |message: String| Failure::new(Stage::Load, message);
    let data = std::fs::read(btf::KERNEL_BTF).map_err(|e| {
        load_error(format!(
            "reading {}: {e} (kernel built without CONFIG_DEBUG_INFO_BTF?)",
            btf::KERNEL_BTF
        ))
    })?;
    let kernel_btf = btf::Btf::parse(&data)
        .map_err(|e| load_error(format!("parsing {}: {e}", btf::KERNEL_BTF)))?;
    fields
        .into_iter()
        .map(|field| {
            let offset = kernel_btf
                .field_offset(field)
                .map_err(|e| load_error(format!("resolving {field}: {e}")))?;
            Ok((field, offset))
        })
        .collect()
}

/// Whether an attach failed because the kernel or driver does not support
/// the request (`EOPNOTSUPP`), as opposed to a bad interface or program.
fn is_unsupported(err: &ProgramError) -> bool {
    let code = match err {
        ProgramError::SyscallError(e) => e.io_error.raw_os_error(),
        ProgramError::XdpError(aya::programs::XdpError::NetlinkError(e)) => e.raw_os_error(),
        _ => None,
    };
    code == Some(libc::EOPNOTSUPP)
}

/// TC classifiers hang off a `clsact` qdisc on kernels before 6.6 (later
/// ones attach through tcx links and do not need it). One left over from an
/// earlier run, or added by someone else, is fine. It is not removed at
/// shutdown: unused, it changes nothing about the interface's traffic.
fn add_clsact(interface: &str) -> Result<(), Failure> {
    match tc::qdisc_add_clsact(interface) {
        Ok(()) => Ok(()),
        Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(Failure::new(
            Stage::Attach,
            format!(
                "adding clsact qdisc to interface {interface}: {}",
                output::error_chain(&e)
            ),
        )),
    }
}

/// The program as the kind its attach point needs; a mismatch is a spec error.
fn program_as<'p, T>(program: &'p mut Program, name: &str, kind: &str) -> Result<&'p mut T, Failure>
where
    &'p mut T: TryFrom<&'p mut Program, Error = ProgramError>,
{
    program.try_into().map_err(|e: ProgramError| {
        Failure::new(
            Stage::Parse,
            format!("program {name} cannot attach as {kind}: {e}"),
        )
    })
}

/// Loads a tail-call target, whatever its type (those a program array can
/// hold and this loader can attach).
fn load_any(program: &mut Program, name: &str) -> Result<(), Failure> {
    let result = match program {
        Program::TracePoint(p) => p.load(),
        Program::RawTracePoint(p) => p.load(),
        Program::KProbe(p) => p.load(),
        Program::UProbe(p) => p.load(),
        Program::Xdp(p) => p.load(),
        Program::SchedClassifier(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::SocketFilter(p) => p.load(),
        other => {
            return Err(Failure::new(
                Stage::Parse,
                format!(
                    "program {name} ({:?}) cannot be a tail-call target here: the loader loads \
                     tracepoint, raw tracepoint, kprobe, uprobe, xdp, tc, cgroup_skb and \
                     socket filter programs into program arrays",
                    other.prog_type()
                ),
            ));
        }
    };
    result.map_err(|e| verify_failure(name, e))
}

/// A probe declared as one direction but attached as the other.
fn kind_mismatch(program: &str, asked: &str, entry: &str, exit: &str) -> Failure {
    let declared = if asked == entry { exit } else { entry };
    Failure::new(
        Stage::Parse,
        format!("program {program} is declared as a {declared}, not a {asked}"),
    )
}

/// The running kernel's BTF (read on first use), which fentry, fexit and lsm
/// programs are loaded against; without it they cannot be attached.
fn kernel_btf_for<'b>(
    btf: &'b mut Option<aya::Btf>,
    program: &str,
    to: &str,
) -> Result<&'b aya::Btf, Failure> {
    if btf.is_none() {
        let parsed = aya::Btf::from_sys_fs().map_err(|e| {
            Failure::new(
                Stage::Load,
                format!(
                    "attaching {program} to {to} needs the kernel's BTF: reading {}: {} \
                     (kernel built without CONFIG_DEBUG_INFO_BTF?)",
                    btf::KERNEL_BTF,
                    output::error_chain(&e)
                ),
            )
        })?;
        *btf = Some(parsed);
    }
    Ok(btf.as_ref().expect("set above"))
}

/// A BTF-typed program (fentry, fexit, lsm) is tied to its target at load:
/// a target the kernel's BTF lacks is an attach-point error; the verifier
/// refusing it (no trampoline support, say) is a verify error.
fn btf_load_failure(program: &str, to: &str, err: ProgramError) -> Failure {
    match err {
        ProgramError::LoadError { .. } => verify_failure(program, err),
        other => attach_failure(program, to, other),
    }
}

/// BPF LSM programs only run where `bpf` is among the kernel's active LSMs
/// (CONFIG_BPF_LSM and `lsm=...,bpf` on the command line, or bpf in
/// CONFIG_LSM); elsewhere the kernel takes them but never calls them.
fn bpf_lsm_active() -> Result<(), String> {
    const LSMS: &str = "/sys/kernel/security/lsm";
    if !std::path::Path::new(LSMS).exists() {
        // SAFETY: all arguments are valid NUL-terminated strings.
        unsafe {
            libc::mount(
                c"securityfs".as_ptr(),
                c"/sys/kernel/security".as_ptr(),
                c"securityfs".as_ptr(),
                0,
                std::ptr::null(),
            );
        }
    }
    let active = std::fs::read_to_string(LSMS).map_err(|e| format!("reading {LSMS}: {e}"))?;
    if active.split(',').any(|lsm| lsm.trim() == "bpf") {
        Ok(())
    } else {
        Err(format!(
            "the BPF LSM is not active: the kernel's LSMs are `{}` (boot it with lsm=…,bpf)",
            active.trim()
        ))
    }
}

/// An AF_PACKET raw socket for every protocol, bound to `interface` in the
/// loader's network namespace: what a socket filter is attached to. Nothing
/// reads it; the filter sees every frame that crosses the interface.
fn packet_socket(interface: &str) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {interface}: {}", io::Error::last_os_error()),
        ));
    }
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(protocol),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket() and nothing else owns it.
    let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol;
    address.sll_ifindex = ifindex as i32;
    // SAFETY: a valid socket and a sockaddr_ll of the size given.
    let bound = unsafe {
        libc::bind(
            fd,
            (&raw const address).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

/// A failed attach, naming the program and where it was going.
fn attach_failure(program: &str, to: &str, err: ProgramError) -> Failure {
    Failure::new(
        Stage::Attach,
        format!("attaching {program} to {to}: {}", output::error_chain(&err)),
    )
    .of_program(program)
}

fn missing(what: &str, name: &str, available: &[String]) -> Failure {
    Failure::new(
        Stage::Parse,
        format!(
            "no {what} named {name} in object (has: {})",
            available.join(", ")
        ),
    )
}

/// A failed `BPF_PROG_LOAD` carries the verifier's log, which is what a
/// failing test needs to show; keep it out of the one-line message.
fn verify_failure(program: &str, err: ProgramError) -> Failure {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => Failure {
            stage: Stage::Verify,
            message: format!("loading program {program}: BPF_PROG_LOAD failed: {io_error}"),
            program: Some(program.to_owned()),
            verifier_log: Some(verifier_log.to_string()),
        },
        other => Failure::new(
            Stage::Verify,
            format!("loading program {program}: {}", output::error_chain(&other)),
        )
        .of_program(program),
    }
}

/// One loaded program's verifier figures (see verifier_stats.rs): the
/// instruction count from the kernel where it keeps one, else from the
/// statistics log the load was captured with; the states from that log;
/// the wall time of its load (BPF_PROG_LOAD, the verifier's run included).
fn program_figures(
    info: Result<aya::programs::ProgramInfo, ProgramError>,
    log: Option<String>,
    load_time: Duration,
) -> Value {
    let kernel_insns = info.ok().and_then(|info| info.verified_instruction_count());
    let stats = log.as_deref().and_then(verifier_stats::parse);
    verifier_stats::figures_json(
        kernel_insns,
        stats.as_ref(),
        Some(load_time.as_secs_f64() * 1000.0),
    )
}

/// Registers a ring buffer (or a perf buffer) with tokio's reactor so it can
/// be awaited.
fn watch<T: std::os::fd::AsRawFd>(inner: T) -> Result<AsyncFd<T>, Failure> {
    // SAFETY: ring buffers, perf buffers and aya-log loggers own their fd
    // for their whole lifetime and always return that same fd.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| {
        Failure::new(
            Stage::Run,
            format!("registering ring buffer with epoll: {}", e.into_parts().1),
        )
    })
}

/// Something that becomes readable when the kernel has records for us.
enum Source {
    Events {
        map: String,
        record_type: RecordType,
        ring: AsyncFd<Counted<RingBuf<MapData>>>,
    },
    /// A PerfEventArray: one buffer per online CPU, counted together.
    Perf {
        map: String,
        record_type: RecordType,
        buffers: Vec<AsyncFd<PerfEventArrayBuffer<MapData>>>,
        count: u64,
        /// Records the kernel dropped because a CPU's buffer was full.
        lost: u64,
    },
    Logs(AsyncFd<EbpfLogger<JsonLog>>),
}

/// What the records of a stream are: the type's name as given on the
/// command line (every `event` line's `type`), and the type.
struct RecordType {
    name: String,
    ty: Type,
}

/// A ring buffer plus the number of records taken from it.
struct Counted<T> {
    inner: T,
    count: u64,
}

impl<T: std::os::fd::AsRawFd> std::os::fd::AsRawFd for Counted<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

impl Source {
    /// Emits every record currently available, without waiting.
    fn drain(&mut self) {
        match self {
            Source::Events {
                map,
                record_type,
                ring,
            } => drain_events(ring.get_mut(), map, record_type),
            Source::Perf {
                map,
                record_type,
                buffers,
                count,
                lost,
            } => {
                // Programs are detached: repeat until a pass over every
                // CPU's buffer finds nothing.
                loop {
                    let read: usize = buffers
                        .iter_mut()
                        .map(|buffer| drain_perf(buffer.get_mut(), map, record_type, count, lost))
                        .sum();
                    if read == 0 {
                        break;
                    }
                }
            }
            Source::Logs(logger) => logger.get_mut().flush(),
        }
    }

    /// Ready once records were drained; registers for a wakeup otherwise.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Source::Events {
                map,
                record_type,
                ring,
            } => {
                let mut guard = ready!(ring.poll_read_ready_mut(cx))?;
                drain_events(guard.get_inner_mut(), map, record_type);
                guard.clear_ready();
            }
            Source::Perf {
                map,
                record_type,
                buffers,
                count,
                lost,
            } => {
                // Poll every buffer, so each one's waker is registered.
                let mut progressed = false;
                for buffer in buffers {
                    if let Poll::Ready(guard) = buffer.poll_read_ready_mut(cx) {
                        let mut guard = guard?;
                        drain_perf(guard.get_inner_mut(), map, record_type, count, lost);
                        guard.clear_ready();
                        progressed = true;
                    }
                }
                if !progressed {
                    return Poll::Pending;
                }
            }
            Source::Logs(logger) => {
                let mut guard = ready!(logger.poll_read_ready_mut(cx))?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Polls every source (so each one's waker is registered) and is ready when
/// at least one had records.
fn poll_sources(sources: &mut [Source], cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let mut progressed = false;
    for source in sources {
        if let Poll::Ready(result) = source.poll_drain(cx) {
            result?;
            progressed = true;
        }
    }
    if progressed {
        Poll::Ready(Ok(()))
    } else {
        Poll::Pending
    }
}

fn drain_events(ring: &mut Counted<RingBuf<MapData>>, map: &str, record_type: &RecordType) {
    while let Some(record) = ring.inner.next() {
        ring.count += 1;
        emit_event(map, record_type, &record);
    }
}

/// Pages per CPU for each `--perf` buffer (a power of two): 256 KiB with
/// 4 KiB pages, as much as the ring buffers of the programs hold.
const PERF_PAGES: usize = 64;

/// Emits every sample currently in one CPU's perf buffer and adds up what
/// the kernel reports as lost. Returns the number of records read (samples
/// and lost notices).
fn drain_perf(
    buffer: &mut PerfEventArrayBuffer<MapData>,
    map: &str,
    record_type: &RecordType,
    count: &mut u64,
    lost: &mut u64,
) -> usize {
    let size = record_type.ty.size;
    buffer.fold(0, |read, event| {
        match event {
            PerfEvent::Sample { head, tail } => {
                *count += 1;
                if tail.is_empty() {
                    emit_event(map, record_type, perf_payload(head, size));
                } else {
                    // The sample straddles the end of the buffer.
                    let record = [head, tail].concat();
                    emit_event(map, record_type, perf_payload(&record, size));
                }
            }
            PerfEvent::Lost { count } => *lost += count,
        }
        read + 1
    })
}

/// The kernel pads a perf sample so that it and its `u32` size prefix end
/// on an 8-byte boundary, and reports the padded size. A record of `size`
/// bytes plus that padding is cut back to `size`; anything else is returned
/// whole, for `emit_event` to report as the wrong size.
fn perf_payload(sample: &[u8], size: usize) -> &[u8] {
    const PREFIX: usize = size_of::<u32>();
    let padded = (size + PREFIX).next_multiple_of(8) - PREFIX;
    if (size..=padded).contains(&sample.len()) {
        &sample[..size]
    } else {
        sample
    }
}

/// Emits one record as an `event` line: decoded, or with the reason it
/// could not be and its bytes.
fn emit_event(map: &str, record_type: &RecordType, record: &[u8]) {
    let mut line = json!({ "map": map, "type": record_type.name });
    let decoded = if record.len() == record_type.ty.size {
        decode(&record_type.ty, record)
    } else {
        Err(format!(
            "record is {} bytes, {} is {}",
            record.len(),
            record_type.name,
            record_type.ty.size
        ))
    };
    match decoded {
        Ok(fields) => line["fields"] = fields,
        Err(error) => {
            // Keep the event visible (and counted) but say why it has no
            // fields.
            line["fields"] = Value::Null;
            line["error"] = json!(error);
            line["raw"] = json!(output::hex(record));
        }
    }
    emit("event", line);
}

/// Resolves with the reason once stdin reaches EOF or SIGTERM/SIGINT arrive.
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // A plain thread rather than tokio's stdin: tokio reads stdin on its
    // blocking pool, and a read that never returns would stall runtime
    // shutdown. This thread just dies with the process.
    let (eof_tx, eof_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = eof_tx.send(());
    });
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = eof_rx => "stdin closed",
        }
    })
}

/// Kernels before 5.11 charge BPF maps against RLIMIT_MEMLOCK, whose
/// default (often 64 KiB or 8 MiB) is too small for a 256 KiB ring buffer
/// plus the rest. Newer kernels use memcg accounting and ignore it.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscalls with valid pointers to initialised structs.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) == 0 {
            return;
        }
        // Without CAP_SYS_RESOURCE (e.g. in a container) only the soft
        // limit can move, up to the hard one.
        let err = io::Error::last_os_error();
        let mut limit = unlimited;
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
        }
        eprintln!(
            "kmatrix-loader: cannot lift RLIMIT_MEMLOCK ({err}); it stays at {} bytes (only matters before 5.11)",
            limit.rlim_cur
        );
    }
}

/// Tracepoints are attached through tracefs. A minimal VM (or a fresh
/// container) may not have it mounted; mount it where aya looks first
/// rather than fail the attach.
fn ensure_tracefs() {
    const TRACING: &str = "/sys/kernel/tracing";
    if std::path::Path::new(TRACING).join("events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return;
    }
    // SAFETY: all arguments are valid NUL-terminated strings.
    let ret = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        eprintln!("kmatrix-loader: mounted tracefs on {TRACING}");
    } else {
        eprintln!(
            "kmatrix-loader: tracefs is not mounted and mounting it failed: {}",
            io::Error::last_os_error()
        );
    }
}

/// `uname -r`, so results can be tied to the kernel that produced them.
fn kernel_release() -> String {
    // SAFETY: utsname is plain data; uname fills it in.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    // SAFETY: the kernel NUL-terminates `release`.
    unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Forwards aya-log records from the eBPF side as `log` lines.
struct JsonLog;

impl log::Log for JsonLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        emit(
            "log",
            json!({
                "level": record.level().as_str().to_ascii_lowercase(),
                "target": record.target(),
                "message": record.args().to_string(),
            }),
        );
    }

    fn flush(&self) {}
}

/// aya's own diagnostics (warnings about BTF, map fallbacks, ...) go to
/// stderr, never to the protocol stream. Level via KMATRIX_LOADER_LOG.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_padding_is_cut() {
        // 32 bytes + u32 prefix = 36, padded to 40: 36 bytes reported.
        let sample = [7u8; 36];
        assert_eq!(perf_payload(&sample, 32).len(), 32);
        assert_eq!(perf_payload(&sample[..32], 32).len(), 32);
        // 20 bytes + prefix = 24 is already aligned.
        assert_eq!(perf_payload(&sample[..20], 20).len(), 20);
        // Too short or longer than the padding allows: left whole.
        assert_eq!(perf_payload(&sample[..30], 32).len(), 30);
        assert_eq!(perf_payload(&sample, 24).len(), 36);
    }
}
