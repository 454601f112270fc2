//! `probes`: the tracing attach kinds, each reporting what it can see of a
//! call the guest makes and records itself:
//!
//! - `vfs_read_entry` (fentry) and `vfs_read_exit` (fexit) on `vfs_read`,
//!   for the reads of `kmatrix-probe-target` (by its comm, `kmx-probe-tgt`):
//!   its `count` argument and its return value;
//! - `lseek_ret` (kretprobe) on the `lseek` syscall (`__x64_sys_lseek`), for
//!   the same process: the position it returned. (Not `vfs_read`: every task
//!   blocked in a read holds one of a kretprobe's few instances until it
//!   returns, and on 5.10 they run out, so returns go unseen.)
//! - `target_entry` (uprobe) and `target_ret` (uretprobe) on
//!   `kmatrix_probe_target` in that binary: its argument and return value;
//! - `exec_raw` (raw tracepoint `sched_process_exec`): every exec, with the
//!   tracepoint's `old_pid` argument.
//!
//! ```sh
//! kmatrix-loader ... --attach lseek_ret=kretprobe:__x64_sys_lseek \
//!   --attach vfs_read_entry=fentry:vfs_read --attach vfs_read_exit=fexit:vfs_read \
//!   --attach exec_raw=raw_tracepoint:sched_process_exec \
//!   --attach target_entry=uprobe:/path/kmatrix-probe-target:kmatrix_probe_target \
//!   --attach target_ret=uretprobe:/path/kmatrix-probe-target:kmatrix_probe_target \
//!   --ringbuf PROBE_EVENTS=ProbeEvent --map PROBE_DROPPED
//! ```
//!
//! `PROBE_DROPPED[0]` counts events lost to a full ring buffer.
#![no_std]
#![no_main]
// For the inline `lock +=` in atomic.rs.
#![feature(asm_experimental_arch)]

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{fentry, fexit, kretprobe, map, raw_tracepoint, uprobe, uretprobe},
    maps::{Array, RingBuf},
    programs::{FEntryContext, FExitContext, ProbeContext, RawTracePointContext, RetProbeContext},
};
use kmatrix_common::{ProbeEvent, probe_kind};

#[path = "../runtime.rs"]
mod runtime;

#[path = "../atomic.rs"]
mod atomic;
use atomic::atomic_inc;

#[path = "../probe.rs"]
mod probe;
use probe::{PROBE_TARGET_COMM, PROBE_TARGET_COMM_LEN, comm_is, current_comm};

#[map]
static PROBE_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

#[map]
static PROBE_DROPPED: Array<u64> = Array::with_max_entries(1, 0);

/// `vfs_read(struct file *file, char __user *buf, size_t count, loff_t *pos)`:
/// `count` is its third argument; an fexit program finds the return value
/// after the four arguments (read directly: `bpf_get_func_ret` needs 5.17).
const VFS_READ_COUNT: usize = 2;
const VFS_READ_RET: usize = 4;

#[kretprobe]
pub fn lseek_ret(ctx: RetProbeContext) -> u32 {
    let comm = current_comm();
    if comm_is(&comm, &PROBE_TARGET_COMM, PROBE_TARGET_COMM_LEN) {
        emit(probe_kind::KRETPROBE, &comm, 0, ctx.ret::<i64>());
    }
    0
}

#[fentry(function = "vfs_read")]
pub fn vfs_read_entry(ctx: FEntryContext) -> u32 {
    let comm = current_comm();
    if comm_is(&comm, &PROBE_TARGET_COMM, PROBE_TARGET_COMM_LEN) {
        emit(probe_kind::FENTRY, &comm, ctx.arg::<u64>(VFS_READ_COUNT), 0);
    }
    0
}

#[fexit(function = "vfs_read")]
pub fn vfs_read_exit(ctx: FExitContext) -> u32 {
    let comm = current_comm();
    if comm_is(&comm, &PROBE_TARGET_COMM, PROBE_TARGET_COMM_LEN) {
        emit(
            probe_kind::FEXIT,
            &comm,
            ctx.arg::<u64>(VFS_READ_COUNT),
            ctx.arg::<i64>(VFS_READ_RET),
        );
    }
    0
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn exec_raw(ctx: RawTracePointContext) -> i32 {
    let old_pid = ctx.arg::<u64>(1) as u32;
    emit(
        probe_kind::RAW_TRACEPOINT,
        &current_comm(),
        u64::from(old_pid),
        0,
    );
    0
}

#[uprobe]
pub fn target_entry(ctx: ProbeContext) -> u32 {
    let x = ctx.arg::<u64>(0).unwrap_or(0);
    emit(probe_kind::UPROBE, &current_comm(), x, 0);
    0
}

#[uretprobe]
pub fn target_ret(ctx: RetProbeContext) -> u32 {
    emit(probe_kind::URETPROBE, &current_comm(), 0, ctx.ret::<i64>());
    0
}

/// Sends one event, or counts it as dropped if the ring buffer is full.
#[inline(always)]
fn emit(kind: u32, comm: &[u64; 2], arg: u64, ret: i64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    match PROBE_EVENTS.reserve::<ProbeEvent>(0) {
        Some(mut entry) => {
            let event = entry.as_mut_ptr();
            // SAFETY: `event` points at a reserved, correctly sized and
            // aligned ProbeEvent; every field is written in place.
            unsafe {
                (*event).kind = kind;
                (*event).tid = pid_tgid as u32;
                (*event).pid = (pid_tgid >> 32) as u32;
                (*event).reserved = 0;
                (*event).arg = arg;
                (*event).ret = ret;
                (&raw mut (*event).comm)
                    .cast::<[u64; 2]>()
                    .write_unaligned(*comm);
            }
            entry.submit(0);
        }
        None => {
            if let Some(dropped) = PROBE_DROPPED.get_ptr_mut(0) {
                atomic_inc(dropped);
            }
        }
    }
}
