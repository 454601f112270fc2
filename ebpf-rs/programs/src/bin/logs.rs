//! `logs`: reports each exec of the exec probe through aya-log instead of a
//! map. The object then carries aya-log's `AYA_LOGS` ring buffer, and the
//! loader forwards every record as a `log` line:
//!
//! ```text
//! exec pid=1234 uid=4242 comm=kmx-exec-probe
//! ```
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid},
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::info;

#[path = "../runtime.rs"]
mod runtime;

#[path = "../probe.rs"]
mod probe;

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let comm = probe::current_comm();
    if !probe::is_exec_probe(&comm) {
        return 0;
    }
    let pid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let uid = bpf_get_current_uid_gid() as u32;
    // SAFETY: `comm` equals the probe's name, so its first
    // EXEC_PROBE_COMM_LEN bytes are that name: initialised, ASCII, in
    // bounds. Logging that fixed-length prefix keeps aya-log's copy of the
    // string a constant-size one (no memcpy call, nothing for the verifier
    // to bound).
    let comm = unsafe {
        core::str::from_utf8_unchecked(core::slice::from_raw_parts(
            comm.as_ptr().cast::<u8>(),
            probe::EXEC_PROBE_COMM_LEN,
        ))
    };
    info!(&ctx, "exec pid={} uid={} comm={}", pid, uid, comm);
    0
}
