//! `task_fixed`: `task_btf` with the offsets compiled in, the way a Rust
//! program reading kernel structs ends up without CO-RE. It is correct on
//! the one kernel the offsets were taken from and wrong elsewhere; it exists
//! so the matrix shows the harness catching exactly that.
#![no_std]
#![no_main]

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

#[path = "../runtime.rs"]
mod runtime;

#[path = "../task.rs"]
mod task;

use task::Offsets;

/// From the BTF of Debian's 6.1.0-56-cloud-amd64 (6.1.192-2), via
/// `cargo run --example btf_offsets -- vmlinuz-6.1.0-56-cloud-amd64
/// task_struct.real_parent task_struct.tgid task_struct.static_prio` in
/// userspace-rs.
const OFFSETS: Offsets = Offsets {
    real_parent: 2432,
    tgid: 2420,
    static_prio: 112,
};

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
    let (ppid, static_prio) = task::read_at(task::current_task(), &OFFSETS);
    task::submit(ppid, static_prio);
    0
}
