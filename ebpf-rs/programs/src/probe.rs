//! Recognising the scenarios' exec probe (a copy of `id` named
//! `kmx-exec-probe`) from `sched/sched_process_exec`, for programs that must
//! report its execs and nothing else.

use core::mem::MaybeUninit;

use aya_ebpf::helpers::generated as helper;
use kmatrix_common::TASK_COMM_LEN;

/// Length of `kmx-exec-probe`, without the NUL.
#[allow(dead_code)] // not every program that includes this file checks for the probe.
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
    // Zeroed first: the helper copies the name up to its NUL and, on the
    // kernels whose helper uses strscpy without padding (6.1 among them),
    // leaves the bytes after it as they were. Left uninitialised, the last
    // byte of `kmx-exec-probe\0` was whatever the stack held, and now and
    // then the probe's exec did not match its own name. Volatile word
    // stores: plain zeroing compiles to a memset call, which BPF lacks.
    let mut comm = MaybeUninit::<[u64; 2]>::uninit();
    let words = comm.as_mut_ptr().cast::<u64>();
    // SAFETY: `words` points at the two u64s of `comm`; after the stores,
    // and the helper's copy of at most TASK_COMM_LEN bytes over them, all
    // of `comm` is initialised.
    unsafe {
        words.write_volatile(0);
        words.add(1).write_volatile(0);
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
/// of `words` (from `comm_words`). Only the name and its NUL count: what
/// follows the NUL in the task's comm (an older, longer name's tail, where
/// the kernel renamed it with `strlcpy`) is no part of the name, whatever a
/// helper copies of it.
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

/// Whether `comm` (from `current_comm`) is the exec probe's: its name and
/// NUL, as `comm_is` compares.
#[allow(dead_code)]
#[inline(always)]
pub fn is_exec_probe(comm: &[u64; 2]) -> bool {
    comm_is(comm, &EXEC_PROBE_COMM, EXEC_PROBE_COMM_LEN + 1)
}
