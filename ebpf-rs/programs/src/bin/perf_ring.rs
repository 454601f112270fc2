//! `perf_ring`: the same exec events through two transports. For every
//! successful execve (`sched/sched_process_exec`) it builds one `ExecEvent`
//! and sends it both to a RingBuf and to a PerfEventArray, so a test can
//! check that the two streams carry the same set.
//!
//! - `RING_EVENTS` is the ring buffer, shared by all CPUs.
//! - `PERF_EVENTS` has one perf buffer per CPU; the event goes to the
//!   current CPU's. What the kernel could not fit there is reported to the
//!   reader as lost records.
//! - `RING_DROPPED[0]` counts events lost because the ring buffer was full.
#![no_std]
#![no_main]
// For the inline `lock +=` in atomic.rs.
#![feature(asm_experimental_arch)]

use core::mem::MaybeUninit;

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid, generated as helper},
    macros::{map, tracepoint},
    maps::{Array, PerfEventArray, RingBuf},
    programs::TracePointContext,
};
use kmatrix_common::{ExecEvent, TASK_COMM_LEN};

#[path = "../runtime.rs"]
mod runtime;

#[path = "../atomic.rs"]
mod atomic;
use atomic::atomic_inc;

#[map]
static RING_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

// max_entries 0: the loader sizes it to the number of possible CPUs.
#[map]
static PERF_EVENTS: PerfEventArray<ExecEvent> = PerfEventArray::new(0);

#[map]
static RING_DROPPED: Array<u64> = Array::with_max_entries(1, 0);

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    match RING_EVENTS.reserve::<ExecEvent>(0) {
        Some(mut entry) => {
            let event = entry.as_mut_ptr();
            // SAFETY: `event` points at a reserved, correctly sized and
            // aligned ExecEvent; `fill` initialises every field. The perf
            // copy is taken from the entry itself, before submit hands it
            // to the reader, so both transports carry the same bytes and no
            // memcpy is needed.
            unsafe {
                fill(event);
                // By reference: a value would be copied onto the 512-byte BPF stack.
                #[expect(clippy::needless_borrows_for_generic_args)]
                PERF_EVENTS.output(&ctx, &*event, 0);
            }
            entry.submit(0);
        }
        None => {
            if let Some(dropped) = RING_DROPPED.get_ptr_mut(0) {
                atomic_inc(dropped);
            }
            let mut event = MaybeUninit::<ExecEvent>::uninit();
            // SAFETY: stack memory sized and aligned for an ExecEvent, fully
            // initialised by `fill`.
            unsafe {
                fill(event.as_mut_ptr());
                PERF_EVENTS.output(&ctx, event.assume_init_ref(), 0);
            }
        }
    }
    0
}

/// Writes every field of the `ExecEvent` at `event`, one by one (no
/// memset/memcpy), exactly as `exec` does.
///
/// # Safety
///
/// `event` must be valid for writes of an `ExecEvent`.
#[inline(always)]
unsafe fn fill(event: *mut ExecEvent) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    // SAFETY: guaranteed by the caller.
    unsafe {
        (*event).pid = pid_tgid as u32;
        (*event).tgid = (pid_tgid >> 32) as u32;
        (*event).uid = uid_gid as u32;
        (*event).gid = (uid_gid >> 32) as u32;
        // The kernel NUL-pads comm, and zero-fills it if the helper fails,
        // so the field is initialised either way.
        helper::bpf_get_current_comm((&raw mut (*event).comm).cast(), TASK_COMM_LEN as u32);
    }
}
