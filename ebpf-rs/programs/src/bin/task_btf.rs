//! `task_btf`: on every exec, reports the parent's tgid and the static
//! priority, read from `task_struct` at offsets the loader looked up in the
//! running kernel's BTF and wrote into the globals below before load:
//!
//! ```sh
//! kmatrix-loader ... --btf-offset TASK_REAL_PARENT_OFF=task_struct.real_parent \
//!   --btf-offset TASK_TGID_OFF=task_struct.tgid \
//!   --btf-offset TASK_STATIC_PRIO_OFF=task_struct.static_prio
//! ```
//!
//! rustc emits no CO-RE relocations, so this is how a pure Rust program
//! stays correct on every kernel: the layout comes from the kernel it runs on.
#![no_std]
#![no_main]

use core::ptr::read_volatile;

#[path = "../runtime.rs"]
mod runtime;

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

#[path = "../task.rs"]
mod task;

use task::Offsets;

// Left at 0 unless the loader sets them; no field read here is at offset 0.
#[unsafe(no_mangle)]
static TASK_REAL_PARENT_OFF: u32 = 0;
#[unsafe(no_mangle)]
static TASK_TGID_OFF: u32 = 0;
#[unsafe(no_mangle)]
static TASK_STATIC_PRIO_OFF: u32 = 0;

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    // Volatile reads: to rustc these statics are the constant 0, and only
    // the loader's patching of .rodata makes them differ, so they must be
    // loaded at run time rather than folded in.
    // SAFETY: plain reads of initialised statics.
    let offsets = unsafe {
        Offsets {
            real_parent: read_volatile(&TASK_REAL_PARENT_OFF),
            tgid: read_volatile(&TASK_TGID_OFF),
            static_prio: read_volatile(&TASK_STATIC_PRIO_OFF),
        }
    };
    let (ppid, static_prio) = task::read_at(task::current_task(), &offsets);
    task::submit(ppid, static_prio);
    0
}
