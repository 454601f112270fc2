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

/// One record per successful `execve`, emitted by the `task_*` programs from
/// the `sched/sched_process_exec` tracepoint. `ppid` and `static_prio` are
/// read out of `task_struct`, whose layout differs between kernels; the
/// programs differ only in how they find those fields, so comparing their
/// records across kernels shows which way of finding them is portable.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TaskEvent {
    /// Kernel task id (low 32 bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Thread group id (high 32 bits of `bpf_get_current_pid_tgid`).
    pub tgid: u32,
    /// `task->real_parent->tgid`; 0 if a read faulted.
    pub ppid: u32,
    /// `task->static_prio`, i.e. 120 + nice for normal tasks; 0 if the read
    /// faulted.
    pub static_prio: i32,
    /// Real uid (low 32 bits of `bpf_get_current_uid_gid`).
    pub uid: u32,
    /// Task name after the exec, NUL-padded (`bpf_get_current_comm`).
    pub comm: [u8; TASK_COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only 4-byte integer fields, no padding (5 * 4 + 16 bytes).
unsafe impl aya::Pod for TaskEvent {}

/// One record per exec of the exec probe, emitted by the `gate` program
/// after it summed `1..=8` with `bpf_loop` (kernel 5.17+).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct GateEvent {
    /// Thread group id (high 32 bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// What the `bpf_loop` callbacks added up: 36 when all 8 ran.
    pub sum: u32,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), two u32 fields, no padding.
unsafe impl aya::Pod for GateEvent {}

/// One record per `tcp_connect()` call, emitted by the `tcp_connect`
/// kprobe. The socket fields are read out of `struct sock` at offsets the
/// loader took from the running kernel's BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TcpEvent {
    /// Thread group id of the connecting task, i.e. its process id (high 32
    /// bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Thread id of the connecting task (low 32 bits of
    /// `bpf_get_current_pid_tgid`); differs from `pid` in any thread but
    /// the main one.
    pub tid: u32,
    /// `sk->__sk_common.skc_daddr`: the IPv4 destination, as stored by the
    /// kernel (network byte order). Meaningless unless `family` is AF_INET.
    pub daddr: u32,
    /// `sk->__sk_common.skc_dport`, converted to host byte order.
    pub dport: u16,
    /// `sk->__sk_common.skc_num`: the local (source) port, in host byte
    /// order; bound before `tcp_connect` runs.
    pub sport: u16,
    /// `sk->__sk_common.skc_family` (2 = AF_INET, 10 = AF_INET6).
    pub family: u16,
    /// Always 0; makes the padding explicit.
    pub reserved: u16,
    /// Name of the connecting task, NUL-padded (`bpf_get_current_comm`).
    pub comm: [u8; TASK_COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), 3 * 4 + 4 * 2 + 16 bytes, every field aligned, no padding.
unsafe impl aya::Pod for TcpEvent {}

/// Which program of `probes` wrote a [`ProbeEvent`].
pub mod probe_kind {
    /// kretprobe on the `lseek` syscall: `arg` 0, `ret` its return value.
    pub const KRETPROBE: u32 = 1;
    /// fentry on `vfs_read`: `arg` its `count`, `ret` 0.
    pub const FENTRY: u32 = 2;
    /// fexit on `vfs_read`: `arg` its `count`, `ret` its return value.
    pub const FEXIT: u32 = 3;
    /// raw tracepoint `sched_process_exec`: `arg` its `old_pid`, `ret` 0.
    pub const RAW_TRACEPOINT: u32 = 4;
    /// uprobe on `kmatrix_probe_target`: `arg` its argument, `ret` 0.
    pub const UPROBE: u32 = 5;
    /// uretprobe on `kmatrix_probe_target`: `arg` 0, `ret` its return value.
    pub const URETPROBE: u32 = 6;
}

/// One record per hit of a `probes` program: who hit it, and the argument
/// and return value that program can see (see [`probe_kind`]).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProbeEvent {
    /// A [`probe_kind`] constant.
    pub kind: u32,
    /// Thread id (low 32 bits of `bpf_get_current_pid_tgid`).
    pub tid: u32,
    /// Process id (high 32 bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Always 0; makes the padding explicit.
    pub reserved: u32,
    /// The argument the program read, as the kind says.
    pub arg: u64,
    /// The return value the program read, as the kind says.
    pub ret: i64,
    /// The current task's name, NUL-padded (`bpf_get_current_comm`).
    pub comm: [u8; TASK_COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: repr(C), 4 * 4 + 2 * 8 + 16 bytes, every field aligned, no padding.
unsafe impl aya::Pod for ProbeEvent {}

/// Packets and bytes, as a cgroup_skb program counts them: `bytes` sums
/// `skb->len`, the IP packet's length (header included).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SkbCounts {
    pub packets: u64,
    pub bytes: u64,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), two u64 fields, no padding.
unsafe impl aya::Pod for SkbCounts {}

/// One record per exec of the exec probe, from `tailcall`: which program
/// of the jump table handled it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TailEvent {
    /// Thread group id (high 32 bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Real uid (low 32 bits of `bpf_get_current_uid_gid`).
    pub uid: u32,
    /// The jump table slot whose program wrote the event, or
    /// `TAIL_CALL_MISSED` when the dispatcher's tail call failed.
    pub slot: u32,
}

/// `TailEvent::slot` when the tail call failed (an empty slot).
pub const TAIL_CALL_MISSED: u32 = 255;

#[cfg(feature = "user")]
// SAFETY: repr(C), three u32 fields, no padding.
unsafe impl aya::Pod for TailEvent {}

/// One record per `file_open` the `lsm` program decided on.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LsmEvent {
    /// Process id (high 32 bits of `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Thread id (low 32 bits of `bpf_get_current_pid_tgid`).
    pub tid: u32,
    /// What the program returned to the kernel: 0 allows, `-errno` denies.
    pub ret: i32,
}

#[cfg(feature = "user")]
// SAFETY: repr(C), three 4-byte fields, no padding.
unsafe impl aya::Pod for LsmEvent {}
