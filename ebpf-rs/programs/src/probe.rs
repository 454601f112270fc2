//! Recognising the scenarios' exec probe (a copy of `id` named
//! `kmx-exec-probe`) from `sched/sched_process_exec`, for programs that must
//! report its execs and nothing else.

use core::mem::MaybeUninit;

use aya_ebpf::helpers::generated as helper;
use kmatrix_common::TASK_COMM_LEN;

/// Length of `kmx-exec-probe`, without the NUL.
#[allow(dead_code)] // gate only compares comms.
pub const EXEC_PROBE_COMM_LEN: usize = 14;

/// The probe's comm as the kernel stores it, NUL-padded to
/// `TASK_COMM_LEN`, as two words so it is compared without a memcmp call.
#[allow(dead_code)]
pub const EXEC_PROBE_COMM: [u64; 2] = comm_words(b"kmx-exec-probe\0\0");

const fn comm_words(comm: &[u8; TASK_COMM_LEN]) -> [u64; 2] {
    let mut low = [0u8; 8];
    let mut high = [0u8; 8];
    let mut i = 0;
    while i < 8 {
        low[i] = comm[i];
        high[i] = comm[8 + i];
        i += 1;
    }
    [u64::from_ne_bytes(low), u64::from_ne_bytes(high)]
}

/// The current task's comm, NUL-padded, in the layout of `EXEC_PROBE_COMM`.
/// All zero if the helper fails, which matches no probe.
#[inline(always)]
pub fn current_comm() -> [u64; 2] {
    // Left uninitialised: zeroing it first compiles to a memset call.
    let mut comm = MaybeUninit::<[u64; 2]>::uninit();
    // SAFETY: `comm` is TASK_COMM_LEN writable bytes, and the helper writes
    // all of them: the NUL-padded name, or zeros if it fails.
    unsafe {
        helper::bpf_get_current_comm(comm.as_mut_ptr().cast(), TASK_COMM_LEN as u32);
        comm.assume_init()
    }
}

/// The comm `kmatrix-probe-target` gives itself once started, so that only
/// what it does from then on matches (not the dynamic loader's reads).
#[allow(dead_code)] // only the probes program uses it.
pub const PROBE_TARGET_COMM: [u64; 2] = comm_words(b"kmx-probe-tgt\0\0\0");
/// Its length with the NUL: what `comm_is` compares.
#[allow(dead_code)]
pub const PROBE_TARGET_COMM_LEN: usize = 14;

/// The comm the lsm scenario's process gives itself before it tries the
/// opens the `lsm` program denies.
#[allow(dead_code)]
pub const LSM_PROBE_COMM: [u64; 2] = comm_words(b"kmx-lsm-probe\0\0\0");
/// Its length with the NUL.
#[allow(dead_code)]
pub const LSM_PROBE_COMM_LEN: usize = 14;

/// Whether the first `len` bytes of `comm` (from `current_comm`) are those
/// of `words` (from `comm_words`). Only the name and its NUL count: after a
/// rename (`prctl(PR_SET_NAME)`) some kernels (6.1's `strlcpy`) leave the
/// old name's tail behind the NUL, and `bpf_get_current_comm` copies it.
#[allow(dead_code)]
#[inline(always)]
pub fn comm_is(comm: &[u64; 2], words: &[u64; 2], len: usize) -> bool {
    let mask = |bytes: usize| match bytes {
        0 => 0,
        8.. => u64::MAX,
        n => (1u64 << (8 * n)) - 1,
    };
    let (low, high) = (mask(len), mask(len.saturating_sub(8)));
    comm[0] & low == words[0] & low && comm[1] & high == words[1] & high
}

/// Whether `comm` (from `current_comm`) is the exec probe's.
#[allow(dead_code)]
#[inline(always)]
pub fn is_exec_probe(comm: &[u64; 2]) -> bool {
    comm[0] == EXEC_PROBE_COMM[0] && comm[1] == EXEC_PROBE_COMM[1]
}
