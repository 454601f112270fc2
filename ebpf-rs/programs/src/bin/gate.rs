//! `gate`: a program that needs kernel 5.17+. For each exec it sums `1..=8`
//! with `bpf_loop` and reports the sum. Where the kernel has `bpf_loop` every
//! event says 36; where it does not, the verifier rejects the program and the
//! loader fails at stage `verify`.
//!
//! It reports every exec rather than only the exec probe's, and the
//! scenario filters by pid: the program tests `bpf_loop`, nothing else.
//! (A comm check here once never matched on Debian's 6.1: it compared a
//! stack byte the helper left unwritten, see `probe::current_comm`.)
#![no_std]
#![no_main]

use core::ffi::c_void;

#[path = "../runtime.rs"]
mod runtime;

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated as helper},
    macros::{map, tracepoint},
    maps::RingBuf,
    programs::TracePointContext,
};
use kmatrix_common::GateEvent;

/// How many times `bpf_loop` calls `add_index`: the sum is 1 + ... + 8.
const LOOPS: u32 = 8;

#[map]
static GATE_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let mut sum: u32 = 0;
    // SAFETY: `add_index` has the callback signature bpf_loop expects, and
    // `sum` outlives the call, which runs every callback before returning.
    // On failure (bad flags) no callback ran and the event reports 0.
    unsafe {
        helper::bpf_loop(LOOPS, add_index as *mut c_void, (&raw mut sum).cast(), 0);
    }
    let Some(mut entry) = GATE_EVENTS.reserve::<GateEvent>(0) else {
        return 0;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points at a reserved, correctly sized and aligned
    // GateEvent; fields are written in place, as in `exec`.
    unsafe {
        (*event).pid = (bpf_get_current_pid_tgid() >> 32) as u32;
        (*event).sum = sum;
    }
    entry.submit(0);
    0
}

/// `bpf_loop`'s callback: adds `index + 1` to the `u32` at `ctx`. It must
/// stay a BPF subprogram of its own (the kernel calls it by reference), hence
/// `inline(never)`; it is not exported, so the verifier checks it in the
/// context of the `bpf_loop` call, where `ctx` is the caller's stack slot.
/// Returning 0 asks for the next iteration.
#[inline(never)]
extern "C" fn add_index(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `sum` passed to bpf_loop above.
    unsafe {
        *ctx.cast::<u32>() += index as u32 + 1;
    }
    0
}
