//! opensnoop: prints every `openat(2)` on the machine, as reported by the
//! opensnoop eBPF program, until SIGINT or SIGTERM.
//!
//! Usage: `opensnoop --object PATH`
//!
//! aya-template embeds the eBPF object in the binary with aya-build; this one
//! loads it from PATH instead, so the same binary runs against any build of
//! the object.

use std::{
    borrow::Cow,
    ffi::OsString,
    io::{self, Write},
    path::PathBuf,
};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::{MapData, RingBuf},
    programs::TracePoint,
    util::KernelVersion,
};
use opensnoop_common::OpenEvent;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let object = object_path(std::env::args_os().skip(1))?;
    lift_memlock_limit_on_old_kernels();

    // `ebpf` owns the program's attachment and the OPEN_TOTALS map; it lives
    // until main returns, so both stay in the kernel (and OPEN_TOTALS stays
    // readable by name) for as long as opensnoop runs.
    let mut ebpf = Ebpf::load_file(&object).context("loading the eBPF object")?;
    let program: &mut TracePoint = ebpf
        .program_mut("opensnoop")
        .context("the object has no program `opensnoop`")?
        .try_into()?;
    program.load().context("loading the opensnoop program")?;
    program
        .attach("syscalls", "sys_enter_openat")
        .context("attaching to syscalls/sys_enter_openat")?;

    let ring = ebpf
        .take_map("OPEN_EVENTS")
        .context("the object has no map `OPEN_EVENTS`")?;
    let ring = RingBuf::try_from(ring)?;
    // SAFETY: the ring buffer owns its map's fd, which stays open and the same
    // until the ring buffer is dropped, together with this AsyncFd.
    let mut events = unsafe { AsyncFd::register(ring) }.map_err(io::Error::from)?;

    // Installed before `attached` is printed, so that a signal sent as soon
    // as that line is seen ends the program cleanly.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;

    // Status goes to stderr, as a tool's does; stdout carries only events.
    eprintln!("opensnoop: attached to syscalls/sys_enter_openat");
    let mut stdout = io::stdout().lock();
    loop {
        tokio::select! {
            readable = events.readable_mut() => {
                let mut guard = readable?;
                print_events(guard.get_inner_mut(), &mut stdout)?;
                guard.clear_ready();
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    // Events that were submitted before the signal are still printed.
    print_events(events.get_mut(), &mut stdout)?;
    eprintln!("opensnoop: exiting");
    Ok(())
}

/// The object path from `--object PATH`, the only arguments accepted.
fn object_path(mut args: impl Iterator<Item = OsString>) -> anyhow::Result<PathBuf> {
    match (args.next(), args.next(), args.next()) {
        (Some(option), Some(path), None) if option == "--object" => Ok(path.into()),
        _ => bail!("usage: opensnoop --object PATH"),
    }
}

/// Kernels before 5.11 charge BPF maps and programs to `RLIMIT_MEMLOCK`, whose
/// default can be smaller than the 256 KiB ring buffer alone. Later kernels
/// charge the memory cgroup instead and ignore the limit, so it is left
/// alone there (lifting it needs `CAP_SYS_RESOURCE`, which containers often
/// lack).
fn lift_memlock_limit_on_old_kernels() {
    if KernelVersion::current().is_ok_and(|version| version >= KernelVersion::new(5, 11, 0)) {
        return;
    }
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        eprintln!(
            "warning: could not lift RLIMIT_MEMLOCK ({}); loading may fail",
            io::Error::last_os_error()
        );
    }
}

/// Prints one line per event waiting in the ring buffer, then flushes, so a
/// reader of a pipe sees each batch at once.
fn print_events(events: &mut RingBuf<MapData>, out: &mut impl Write) -> anyhow::Result<()> {
    while let Some(record) = events.next() {
        let event = OpenEvent::from_bytes(&record).with_context(|| {
            format!(
                "OPEN_EVENTS holds a {}-byte record that is not an OpenEvent; was the object built from another version?",
                record.len()
            )
        })?;
        writeln!(
            out,
            "open tgid={} pid={} comm={} flags={} file={}",
            event.tgid,
            event.pid,
            until_nul(&event.comm),
            event.flags,
            until_nul(&event.filename),
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The text of a NUL-terminated byte field, with invalid UTF-8 replaced.
fn until_nul(field: &[u8]) -> Cow<'_, str> {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end])
}
