//! `task_core`: `task_btf`'s report with the fields read by C accessors
//! (c/task_core.c) that carry CO-RE relocations. aya adjusts those to the
//! running kernel's layout at load, as libbpf would, so the Rust program is
//! portable without any offsets from the loader.
#![no_std]
#![no_main]

use core::ffi::c_void;

#[path = "../runtime.rs"]
mod runtime;

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

#[path = "../task.rs"]
mod task;

// Defined in c/task_core.c, linked in by bpf-linker (see build.rs).
unsafe extern "C" {
    fn kmx_task_ppid(task: *const c_void) -> u32;
    fn kmx_task_static_prio(task: *const c_void) -> i32;
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let current = task::current_task().cast();
    // SAFETY: both only read through bpf_probe_read_kernel, which fails
    // cleanly on a bad address.
    let (ppid, static_prio) = unsafe { (kmx_task_ppid(current), kmx_task_static_prio(current)) };
    task::submit(ppid, static_prio);
    0
}
