//! `lsm`: a BPF LSM program on the `file_open` hook that denies every open
//! of a task named `kmx-lsm-probe` with `EPERM`, and reports each decision
//! as an `LsmEvent`. Everyone else's opens are left alone (and unreported).
//!
//! ```sh
//! kmatrix-loader ... --attach file_open=lsm:file_open --ringbuf LSM_EVENTS=LsmEvent
//! ```
//!
//! Needs `bpf` among the kernel's active LSMs.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{lsm, map},
    maps::RingBuf,
    programs::LsmContext,
};
use kmatrix_common::LsmEvent;

#[path = "../runtime.rs"]
mod runtime;

#[path = "../probe.rs"]
mod probe;

#[map]
static LSM_EVENTS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

const EPERM: i32 = 1;

/// `file_open(struct file *file)`; an LSM program's last argument is what
/// the BPF LSM programs before it decided.
#[lsm(hook = "file_open")]
pub fn file_open(ctx: LsmContext) -> i32 {
    let earlier: i32 = ctx.arg(1);
    if earlier != 0 {
        return earlier;
    }
    let comm = probe::current_comm();
    if !probe::comm_is(&comm, &probe::LSM_PROBE_COMM, probe::LSM_PROBE_COMM_LEN) {
        return 0;
    }
    let ret = -EPERM;
    if let Some(mut entry) = LSM_EVENTS.reserve::<LsmEvent>(0) {
        let pid_tgid = bpf_get_current_pid_tgid();
        let event = entry.as_mut_ptr();
        // SAFETY: `event` points at a reserved, correctly sized and aligned
        // LsmEvent; every field is written in place.
        unsafe {
            (*event).pid = (pid_tgid >> 32) as u32;
            (*event).tid = pid_tgid as u32;
            (*event).ret = ret;
        }
        entry.submit(0);
    }
    ret
}
