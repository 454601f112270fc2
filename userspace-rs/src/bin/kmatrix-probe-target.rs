//! kmatrix-probe-target: a process that does known things for uprobes and
//! read probes to see, and reports what really happened, one JSON line each:
//!
//! - `{"kind":"start","pid":…,"tid":…,"comm":…}`: itself, as the kernel names
//!   it at exec (read from /proc/thread-self/comm); it then renames itself
//!   `kmx-probe-tgt`, so that BPF programs can tell its later calls from the
//!   dynamic loader's reads;
//! - `{"kind":"call","x":…,"ret":…}` for each of `--calls N` calls of
//!   `kmatrix_probe_target(x)`, with the value it returned;
//! - for each of `--reads N` rounds on a file it wrote (`--file PATH`):
//!   `{"kind":"seek","offset":…,"ret":…}`, an `lseek(2)` to `offset` bytes
//!   before the end, with the position the kernel returned, then
//!   `{"kind":"read","count":…,"ret":…}`, a `pread(2)` at 0, with what it
//!   returned: the counts are 100, 200, …, and the file is 50 bytes short of
//!   the last, so the last read returns less than it asked for.
//!
//! Only std and libc: it runs in the guest on the host's userspace.

use std::io::Write as _;

/// The uprobe target: its address is found by symbol, so it must keep its
/// name (`no_mangle`) and stay a real call (`inline(never)`).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn kmatrix_probe_target(x: u64) -> u64 {
    std::hint::black_box(x.wrapping_mul(3).wrapping_add(7))
}

/// The comm taken after start; 13 bytes, under TASK_COMM_LEN.
const RENAMED: &std::ffi::CStr = c"kmx-probe-tgt";

fn main() {
    if let Err(message) = run() {
        eprintln!("kmatrix-probe-target: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut calls = 0u64;
    let mut reads = 0usize;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--calls" => calls = value()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--reads" => reads = value()?.parse().map_err(|e| format!("--reads: {e}"))?,
            "--file" => file = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {flag} (--calls N --reads N --file PATH)"
                ));
            }
        }
    }
    let comm = std::fs::read_to_string("/proc/thread-self/comm")
        .map_err(|e| format!("reading /proc/thread-self/comm: {e}"))?;
    // SAFETY: plain syscalls.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    // Written before the reads, so none of its own reads are in the way.
    let content = match (reads, &file) {
        (0, _) => None,
        (_, None) => return Err("--reads needs --file".to_owned()),
        (n, Some(path)) => {
            std::fs::write(path, vec![b'k'; n * 100 - 50])
                .map_err(|e| format!("writing {path}: {e}"))?;
            Some(std::fs::File::open(path).map_err(|e| format!("opening {path}: {e}"))?)
        }
    };
    let mut out = std::io::stdout().lock();
    let mut line = |text: String| writeln!(out, "{text}").map_err(|e| format!("stdout: {e}"));
    line(format!(
        r#"{{"kind":"start","pid":{pid},"tid":{tid},"comm":"{}"}}"#,
        comm.trim_end()
    ))?;
    // SAFETY: a NUL-terminated name of at most 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, RENAMED.as_ptr()) } != 0 {
        return Err(format!(
            "prctl(PR_SET_NAME): {}",
            std::io::Error::last_os_error()
        ));
    }
    for i in 0..calls {
        let x = 1000 + 7 * i;
        let ret = kmatrix_probe_target(std::hint::black_box(x));
        line(format!(r#"{{"kind":"call","x":{x},"ret":{ret}}}"#))?;
    }
    if let Some(file) = content {
        use std::os::fd::AsRawFd as _;
        let mut buffer = vec![0u8; reads * 100];
        for i in 1..=reads {
            let offset = -10 * i as libc::off_t;
            // SAFETY: a valid fd.
            let position = unsafe { libc::lseek(file.as_raw_fd(), offset, libc::SEEK_END) };
            if position < 0 {
                return Err(format!("lseek: {}", std::io::Error::last_os_error()));
            }
            line(format!(
                r#"{{"kind":"seek","offset":{offset},"ret":{position}}}"#
            ))?;
            let count = i * 100;
            // SAFETY: a valid fd, and a buffer of at least `count` bytes.
            let ret =
                unsafe { libc::pread(file.as_raw_fd(), buffer.as_mut_ptr().cast(), count, 0) };
            if ret < 0 {
                return Err(format!("pread: {}", std::io::Error::last_os_error()));
            }
            line(format!(r#"{{"kind":"read","count":{count},"ret":{ret}}}"#))?;
        }
    }
    Ok(())
}
