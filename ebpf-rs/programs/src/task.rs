//! What the `task_*` programs share: the ring buffer and the record they
//! write on `sched/sched_process_exec`. They differ only in how they find
//! `real_parent`, `tgid` and `static_prio` inside `task_struct`, whose layout
//! changes from kernel to kernel.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_kernel,
        generated as helper,
    },
    macros::map,
    maps::RingBuf,
};
use kmatrix_common::{TASK_COMM_LEN, TaskEvent};

#[map]
static TASK_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// Byte offsets into `task_struct`, valid for one kernel layout.
pub struct Offsets {
    pub real_parent: u32,
    pub tgid: u32,
    pub static_prio: u32,
}

/// The current task's `task_struct`, as an address to read from with
/// `bpf_probe_read_kernel` (never to dereference).
#[inline(always)]
pub fn current_task() -> *const u8 {
    // SAFETY: the helper takes no arguments and cannot fail.
    unsafe { helper::bpf_get_current_task() as *const u8 }
}

/// Reads `task->real_parent->tgid` and `task->static_prio` at `offsets`.
/// A read that faults yields 0; wrong offsets usually yield garbage instead,
/// which is what `task_fixed` is there to show.
#[allow(dead_code)] // task_core reads through its C accessors instead.
#[inline(always)]
pub fn read_at(task: *const u8, offsets: &Offsets) -> (u32, i32) {
    // wrapping_add: these are kernel addresses, not Rust allocations, so
    // `add`'s in-bounds rule cannot hold; the helper checks every access.
    // SAFETY: bpf_probe_read_kernel copies through a checked path and fails
    // cleanly on a bad address.
    unsafe {
        let real_parent = task.wrapping_add(offsets.real_parent as usize);
        let parent =
            bpf_probe_read_kernel(real_parent.cast::<*const u8>()).unwrap_or(core::ptr::null());
        let tgid = parent.wrapping_add(offsets.tgid as usize);
        let ppid = bpf_probe_read_kernel(tgid.cast::<u32>()).unwrap_or(0);
        let static_prio = task.wrapping_add(offsets.static_prio as usize);
        let static_prio = bpf_probe_read_kernel(static_prio.cast::<i32>()).unwrap_or(0);
        (ppid, static_prio)
    }
}

/// Writes one `TaskEvent` for the current task. A full ring buffer drops
/// the event; a test sees that as a missing record.
#[inline(always)]
pub fn submit(ppid: u32, static_prio: i32) {
    let Some(mut entry) = TASK_EVENTS.reserve::<TaskEvent>(0) else {
        return;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points at a reserved, correctly sized and aligned
    // TaskEvent. Fields are written in place, as in `exec`, to keep the
    // program free of memcpy/memset calls.
    unsafe {
        (*event).pid = pid_tgid as u32;
        (*event).tgid = (pid_tgid >> 32) as u32;
        (*event).ppid = ppid;
        (*event).static_prio = static_prio;
        (*event).uid = bpf_get_current_uid_gid() as u32;
        // The kernel NUL-pads comm, and zero-fills it if the helper fails.
        helper::bpf_get_current_comm((&raw mut (*event).comm).cast(), TASK_COMM_LEN as u32);
    }
    entry.submit(0);
}
