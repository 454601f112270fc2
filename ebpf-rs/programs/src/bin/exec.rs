//! `exec`: observes every successful execve via the `sched/sched_process_exec`
//! tracepoint.
//!
//! - `EXECS_BY_UID` counts execs per uid, so a test can compare totals.
//! - `EXEC_EVENTS` streams one `ExecEvent` per exec, so a test can look for a
//!   specific process.
//! - `EXEC_DROPPED[0]` counts events lost because the ring buffer was full,
//!   so a test can tell "not produced" from "produced but dropped".
#![no_std]
#![no_main]
// For the inline `lock +=` in atomic.rs.
#![feature(asm_experimental_arch)]

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid, generated as helper},
    macros::{map, tracepoint},
    maps::{Array, HashMap, RingBuf},
    programs::TracePointContext,
};
use kmatrix_common::{ExecEvent, TASK_COMM_LEN};

#[path = "../runtime.rs"]
mod runtime;

#[path = "../atomic.rs"]
mod atomic;
use atomic::atomic_inc;

#[map]
static EXECS_BY_UID: HashMap<u32, u64> = HashMap::with_max_entries(1024, 0);

#[map]
static EXEC_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

#[map]
static EXEC_DROPPED: Array<u64> = Array::with_max_entries(1, 0);

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    let uid = uid_gid as u32;

    count_exec(uid);

    match EXEC_EVENTS.reserve::<ExecEvent>(0) {
        Some(mut entry) => {
            let event = entry.as_mut_ptr();
            // SAFETY: `event` points at a reserved, correctly sized and
            // aligned ExecEvent. Fields are written in place rather than
            // building the struct on the stack and copying it, which keeps
            // the program free of memcpy/memset calls.
            unsafe {
                (*event).pid = pid_tgid as u32;
                (*event).tgid = (pid_tgid >> 32) as u32;
                (*event).uid = uid;
                (*event).gid = (uid_gid >> 32) as u32;
                // The kernel NUL-pads comm, and zero-fills it if the helper
                // fails, so the field is initialised either way and the
                // event (pid/uid are still valid) is worth submitting.
                helper::bpf_get_current_comm((&raw mut (*event).comm).cast(), TASK_COMM_LEN as u32);
            }
            entry.submit(0);
        }
        None => {
            if let Some(dropped) = EXEC_DROPPED.get_ptr_mut(0) {
                atomic_inc(dropped);
            }
        }
    }
    0
}

/// Adds one to `EXECS_BY_UID[uid]`, creating the entry on first sight.
fn count_exec(uid: u32) {
    if let Some(count) = EXECS_BY_UID.get_ptr_mut(uid) {
        atomic_inc(count);
        return;
    }
    // NOEXIST: if another CPU created the entry between the lookup and this
    // insert, the insert fails and we add to that entry instead of
    // overwriting its count with 1.
    if EXECS_BY_UID.insert(uid, 1, BPF_NOEXIST.into()).is_err()
        && let Some(count) = EXECS_BY_UID.get_ptr_mut(uid)
    {
        atomic_inc(count);
    }
}
