//! The verifier's statistics for a program that loads.
//!
//! The kernel prints how many states the verifier explored (and, before
//! 5.16, how many instructions it processed) only into the verifier log,
//! and aya asks for a log only after a load has failed: its first
//! `BPF_PROG_LOAD` has no log buffer, and a log is never returned for a
//! load that succeeds. To get the figures of every program without
//! re-implementing aya's loading (relocations, BTF, global data, attach
//! BTF ids), this module sits under aya at the system call: the binary
//! defines `syscall`, which the static linker binds every `libc::syscall`
//! call of the binary to (aya's included) instead of libc's. Inside
//! [`capture`], a `BPF_PROG_LOAD` sent without a log gets a small one at
//! `BPF_LOG_STATS`, which holds only the statistics and any warnings. Every
//! other call goes to the kernel unchanged, exactly as libc's `syscall`
//! does it.
//!
//! If the load with the log fails for any reason, the call is repeated as
//! aya made it, so aya sees the kernel's answer to its own request (a
//! kernel that refuses the log level, or a log that did not fit, never
//! turns into a failed load).

use std::{
    cell::{Cell, RefCell},
    ffi::{c_int, c_long},
};

/// Runs `load` and returns its result with the statistics log of the
/// program it loaded (the last `BPF_PROG_LOAD` that succeeded within it),
/// or `None` when there was none or this architecture is not covered.
pub fn capture<T>(load: impl FnOnce() -> T) -> (T, Option<String>) {
    CAPTURED.take();
    CAPTURING.set(true);
    let result = load();
    CAPTURING.set(false);
    (result, CAPTURED.take())
}

// Per thread: a capture sees only the loads of the thread that asked.
thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The statistics are a few lines (plus any warnings); 64 KiB leaves room
/// and stays well under any kernel's limit.
const LOG_SIZE: usize = 64 * 1024;
const BPF_PROG_LOAD: c_int = 5;
const BPF_LOG_STATS: u32 = 4;

/// The start of `union bpf_attr` as `BPF_PROG_LOAD` reads it (uapi
/// `linux/bpf.h`): the log fields sit at the same offsets on every kernel.
#[repr(C)]
struct ProgLoadHead {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// A `BPF_PROG_LOAD` without a log, loaded with a statistics log whose text
/// is kept for [`capture`]. `None` when the call is not one to change.
///
/// # Safety
/// `attr` and `size` are what the caller passed to `bpf(2)`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
unsafe fn load_with_stats(cmd: c_long, attr: c_long, size: c_long) -> Option<c_long> {
    let head = attr as *mut ProgLoadHead;
    if head.is_null() || (size as usize) < size_of::<ProgLoadHead>() {
        return None;
    }
    // SAFETY: the caller handed the kernel at least this many bytes at attr.
    let head = unsafe { &mut *head };
    if head.log_level != 0 || head.log_buf != 0 {
        return None;
    }
    let mut log = vec![0u8; LOG_SIZE];
    head.log_level = BPF_LOG_STATS;
    head.log_size = LOG_SIZE as u32;
    head.log_buf = log.as_mut_ptr() as u64;
    // SAFETY: the same call with a valid buffer of log_size bytes added.
    let ret = unsafe { raw::syscall6(libc::SYS_bpf, cmd, attr, size, 0, 0, 0) };
    head.log_level = 0;
    head.log_size = 0;
    head.log_buf = 0;
    if ret < 0 {
        return None;
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]).into_owned();
    CAPTURED.set(Some(text));
    Some(ret)
}

/// libc's `syscall(2)`, for this binary: the same arguments and the same
/// result (`-1` and `errno` on failure). Six arguments are read whatever
/// the caller passed, as libc's own does: on x86-64 and aarch64 the
/// unused ones are registers or stack slots that are always readable.
///
/// # Safety
/// As for `syscall(2)`: the arguments must be valid for the call.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // `cmd` is an int: only its low 32 bits are defined.
    if number == libc::SYS_bpf
        && a1 as c_int == BPF_PROG_LOAD
        && CAPTURING.get()
        // SAFETY: a bpf(2) call's own arguments.
        && let Some(ret) = unsafe { load_with_stats(a1, a2, a3) }
    {
        return ret;
    }
    // SAFETY: forwarded unchanged.
    unsafe { raw::syscall6(number, a1, a2, a3, a4, a5, a6) }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod raw {
    use std::ffi::{c_int, c_long};

    /// The system call, with libc's convention for the result.
    ///
    /// # Safety
    /// As for `syscall(2)`.
    pub unsafe fn syscall6(
        number: c_long,
        a1: c_long,
        a2: c_long,
        a3: c_long,
        a4: c_long,
        a5: c_long,
        a6: c_long,
    ) -> c_long {
        let ret: c_long;
        // SAFETY: the kernel's system call convention of each architecture.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            std::arch::asm!(
                "syscall",
                inlateout("rax") number => ret,
                in("rdi") a1, in("rsi") a2, in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
            #[cfg(target_arch = "aarch64")]
            std::arch::asm!(
                "svc 0",
                in("x8") number,
                inlateout("x0") a1 => ret,
                in("x1") a2, in("x2") a3, in("x3") a4, in("x4") a5, in("x5") a6,
                options(nostack),
            );
        }
        if (-4095..0).contains(&ret) {
            // SAFETY: the calling thread's errno.
            unsafe { *libc::__errno_location() = -ret as c_int };
            -1
        } else {
            ret
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_calls_go_through_unchanged() {
        // SAFETY: plain system calls.
        unsafe {
            assert_eq!(libc::syscall(libc::SYS_getpid), libc::getpid() as c_long);
            assert_eq!(libc::syscall(libc::SYS_close, -1 as c_long), -1);
            assert_eq!(*libc::__errno_location(), libc::EBADF);
        }
    }

    /// `r0 = 0; exit`, as a socket filter, loaded the way aya does it:
    /// without a log. Needs CAP_BPF (root); elsewhere it checks nothing.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn a_load_without_a_log_gets_the_statistics() {
        let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
        let license = c"GPL";
        // A bpf_attr of 128 bytes, zeroed past the head.
        let mut attr = [0u64; 16];
        let head = attr.as_mut_ptr().cast::<ProgLoadHead>();
        // SAFETY: attr is large enough and aligned for the head.
        unsafe {
            (*head).prog_type = 1; // BPF_PROG_TYPE_SOCKET_FILTER
            (*head).insn_cnt = 2;
            (*head).insns = insns.as_ptr() as u64;
            (*head).license = license.as_ptr() as u64;
        }
        let (fd, log) = capture(|| unsafe {
            // SAFETY: a valid BPF_PROG_LOAD attr of the size given.
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_LOAD,
                attr.as_mut_ptr(),
                size_of_val(&attr),
            )
        });
        if fd < 0 {
            eprintln!(
                "skipped: BPF_PROG_LOAD failed: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        // SAFETY: the fd the kernel just returned.
        unsafe { libc::close(fd as c_int) };
        let log = log.expect("a statistics log");
        let stats = crate::verifier_stats::parse(&log).expect(&log);
        assert_eq!(stats.insns, 2, "{log}");
        // The caller's attr is left as it made it.
        assert_eq!(unsafe { ((*head).log_level, (*head).log_buf) }, (0, 0));
    }

    #[test]
    fn nothing_is_captured_without_a_load() {
        let (value, log) = capture(|| 7);
        assert_eq!((value, log), (7, None));
    }
}
