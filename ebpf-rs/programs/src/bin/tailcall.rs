//! `tailcall`: a dispatcher on `sched/sched_process_exec` that, for each
//! exec of the exec probe, tail-calls slot `uid % 2` of the `JUMP` program
//! array; the program there (`on_even` at 0, `on_odd` at 1, as the loader
//! put them) emits a `TailEvent` naming its slot. If the tail call fails (an
//! empty slot), the dispatcher itself emits the event with
//! `TAIL_CALL_MISSED`.
//!
//! ```sh
//! kmatrix-loader ... --prog-array JUMP=0:on_even,1:on_odd \
//!   --attach dispatch=tracepoint:sched/sched_process_exec --ringbuf TAIL_EVENTS=TailEvent
//! ```
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::{map, tracepoint},
    maps::{ProgramArray, RingBuf},
    programs::TracePointContext,
};
use kmatrix_common::{TAIL_CALL_MISSED, TailEvent};

#[path = "../runtime.rs"]
mod runtime;

#[path = "../probe.rs"]
mod probe;

#[map]
static JUMP: ProgramArray = ProgramArray::with_max_entries(2, 0);

#[map]
static TAIL_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn dispatch(ctx: TracePointContext) -> u32 {
    if !probe::is_exec_probe(&probe::current_comm()) {
        return 0;
    }
    let slot = bpf_get_current_uid_gid() as u32 % 2;
    // SAFETY: `ctx` is this program's context; on success the call does not
    // return.
    unsafe { JUMP.tail_call(&ctx, slot) };
    emit(TAIL_CALL_MISSED);
    0
}

/// Slot 0: execs under an even uid.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn on_even(_ctx: TracePointContext) -> u32 {
    emit(0);
    0
}

/// Slot 1: execs under an odd uid.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn on_odd(_ctx: TracePointContext) -> u32 {
    emit(1);
    0
}

#[inline(always)]
fn emit(slot: u32) {
    if let Some(mut entry) = TAIL_EVENTS.reserve::<TailEvent>(0) {
        let event = entry.as_mut_ptr();
        // SAFETY: `event` points at a reserved, correctly sized and aligned
        // TailEvent; every field is written in place.
        unsafe {
            (*event).pid = (bpf_get_current_pid_tgid() >> 32) as u32;
            (*event).uid = bpf_get_current_uid_gid() as u32;
            (*event).slot = slot;
        }
        entry.submit(0);
    }
}
