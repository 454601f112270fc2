//! Types shared by the eBPF programs and the userspace loader.
//!
//! Everything here is `#[repr(C)]` plain data: the kernel side writes it into
//! maps/ring buffers and the loader reads the same bytes back, so the layout
//! must be identical on both sides (both are little-endian, 64-bit).
#![no_std]

/// Length of `task_struct::comm`, including the trailing NUL.
pub const TASK_COMM_LEN: usize = 16;

/// One record per successful `execve`, emitted by the `exec` program from
/// the `sched/sched_process_exec` tracepoint.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    /// Kernel task id, i.e. the thread id (low 32 bits of
    /// `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Thread group id, i.e. what userspace calls the process id (high 32
    /// bits of `bpf_get_current_pid_tgid`).
    pub tgid: u32,
    /// Real uid (low 32 bits of `bpf_get_current_uid_gid`).
    pub uid: u32,
    /// Real gid (high 32 bits of `bpf_get_current_uid_gid`).
    pub gid: u32,
    /// Task name after the exec, NUL-padded (`bpf_get_current_comm`).
    pub comm: [u8; TASK_COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only integer fields, no padding (4 * u32 + 16 bytes).
unsafe impl aya::Pod for ExecEvent {}
