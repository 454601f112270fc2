//! opensnoop: observes every `openat(2)` at the `syscalls/sys_enter_openat`
//! tracepoint.
//!
//! - `OPEN_EVENTS` streams one `OpenEvent` per call, for following opens as
//!   they happen.
//! - `OPEN_TOTALS` keeps `OpenTotals` per process (tgid), for reading counts
//!   at any time, by map name, while the program is loaded.
//!
//! Written for kernels 5.10 and later: the ring buffer needs 5.8 and
//! `bpf_probe_read_user_str` 5.5; the compiled program has no loops, no
//! `bpf_loop` and no kfuncs.
#![no_std]
#![no_main]
// The atomic adds are inline assembly, which is unstable on the BPF target.
#![feature(asm_experimental_arch)]

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_probe_read_user_str_bytes,
        generated::bpf_get_current_comm,
    },
    macros::{map, tracepoint},
    maps::{HashMap, RingBuf},
    programs::TracePointContext,
};
use opensnoop_common::{Ids, O_TRUNC, OpenEvent, OpenKind, OpenTotals, TASK_COMM_LEN};

/// Where `sys_enter_openat` keeps the arguments this program reads, from
/// /sys/kernel/tracing/events/syscalls/sys_enter_openat/format. Every syscall
/// argument has an 8-byte slot after the 8-byte common header and the
/// `__syscall_nr` slot, so these offsets are the same on every kernel.
const FILENAME_OFFSET: usize = 24;
const FLAGS_OFFSET: usize = 32;

#[map]
static OPEN_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

#[map]
static OPEN_TOTALS: HashMap<u32, OpenTotals> = HashMap::with_max_entries(10240, 0);

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn opensnoop(ctx: TracePointContext) {
    let Ok((filename, flags)) = openat_args(&ctx) else {
        return;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;

    count_open(tgid, flags);
    emit_event(pid_tgid, flags, filename);
}

/// openat's `filename` pointer and `flags` from the tracepoint's record.
fn openat_args(ctx: &TracePointContext) -> Result<(*const u8, i32), i32> {
    // SAFETY: both offsets lie within the record (see their definitions),
    // and the values read are plain integers.
    let filename = unsafe { ctx.read_at::<*const u8>(FILENAME_OFFSET)? };
    let flags_slot = unsafe { ctx.read_at::<u64>(FLAGS_OFFSET)? };
    // `flags` is an int: the low 32 bits of its 8-byte slot.
    Ok((filename, flags_slot as i32))
}

/// Adds this open to `OPEN_TOTALS[tgid]`, creating the entry on the
/// process's first open. When the map is full, opens of processes not in it
/// yet go uncounted (they are still streamed).
fn count_open(tgid: u32, flags: i32) {
    let for_writing = OpenKind::from_flags(flags).has_write_access();
    if let Some(totals) = OPEN_TOTALS.get_ptr_mut(tgid) {
        add_to_totals(totals, flags, for_writing);
        return;
    }
    let first = OpenTotals {
        opens: 1,
        last_flags: flags,
        writes: u32::from(for_writing),
    };
    // NOEXIST: if another thread of the process created the entry since the
    // lookup above, the insert fails and this open is added to that entry
    // rather than overwriting its counts.
    if OPEN_TOTALS.insert(tgid, first, BPF_NOEXIST.into()).is_err() {
        if let Some(totals) = OPEN_TOTALS.get_ptr_mut(tgid) {
            add_to_totals(totals, flags, for_writing);
        }
    }
}

fn add_to_totals(totals: *mut OpenTotals, flags: i32, for_writing: bool) {
    // SAFETY: `totals` comes from a successful lookup, so it points at a
    // live, aligned map value. The counters are added to atomically because
    // threads of one process open files on several CPUs at once;
    // `last_flags` is simply the last write to land.
    unsafe {
        atomic_add_u64(&raw mut (*totals).opens, 1);
        if for_writing {
            atomic_add_u32(&raw mut (*totals).writes, 1);
        }
        (*totals).last_flags = flags;
    }
}

/// Streams one `OpenEvent`; if the ring buffer is full (the reader is behind)
/// the event is dropped, while `OPEN_TOTALS` has already counted it.
fn emit_event(pid_tgid: u64, flags: i32, filename: *const u8) {
    let Some(mut entry) = OPEN_EVENTS.reserve::<OpenEvent>(0) else {
        return;
    };
    let event = entry.as_mut_ptr();
    let uid_gid = bpf_get_current_uid_gid();
    let uid = uid_gid as u32;
    // SAFETY: `event` points at a reserved record of OpenEvent's size and
    // alignment. Its fields are written in place rather than built on the
    // stack and copied, which would cost 144 bytes of the 512-byte stack.
    unsafe {
        zero_event(event);
        (*event).tgid = (pid_tgid >> 32) as u32;
        (*event).pid = pid_tgid as u32;
        (*event).uid = uid;
        (*event).flags = flags;
        (*event).kind = OpenKind::from_flags(flags);
        (*event).truncate = flags & O_TRUNC != 0;
        (*event).ids = Ids {
            uid,
            gid: (uid_gid >> 32) as u32,
        };
        // The helper writes all TASK_COMM_LEN bytes: the NUL-padded name, or
        // zeros if it fails, so its result needs no check.
        bpf_get_current_comm((&raw mut (*event).comm).cast(), TASK_COMM_LEN as u32);
        // If the path cannot be read (a bad pointer, or a page not resident:
        // this helper cannot fault pages in), the field stays zero and the
        // event goes out with an empty filename.
        let _ = bpf_probe_read_user_str_bytes(filename, &mut (*event).filename);
    }
    entry.submit(0);
}

/// Zeroes a reserved record. Ring buffer memory holds whatever an earlier
/// record left there, and neither the padding nor the bytes after the
/// filename's NUL are written otherwise. The word stores are volatile because
/// the optimiser would merge plain ones (or `write_bytes`) into a call to
/// `memset`, a byte-at-a-time loop in BPF.
///
/// # Safety
/// `event` must point at a writable, 4-byte aligned OpenEvent.
#[inline(always)]
unsafe fn zero_event(event: *mut OpenEvent) {
    let words = event.cast::<u32>();
    for index in 0..size_of::<OpenEvent>() / size_of::<u32>() {
        // SAFETY: `index` stays within the event (its size is a multiple of
        // 4), which the caller guarantees is writable and aligned.
        unsafe { words.add(index).write_volatile(0) };
    }
}

/// Atomically adds `value` to the `u64` at `counter` with `BPF_XADD`
/// (`lock +=`), the one atomic every kernel in range accepts. `core` has no
/// `fetch_add` on BPF, whose base instruction set lacks compare-and-swap.
///
/// # Safety
/// `counter` must point at a live, 8-byte aligned map value.
#[inline(always)]
unsafe fn atomic_add_u64(counter: *mut u64, value: u64) {
    // SAFETY: the caller guarantees `counter`; the instruction writes only
    // there.
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({counter} + 0) += {value}",
            counter = in(reg) counter,
            value = in(reg) value,
        );
    }
}

/// The 32-bit form of `atomic_add_u64`.
///
/// # Safety
/// `counter` must point at a live, 4-byte aligned map value.
#[inline(always)]
unsafe fn atomic_add_u32(counter: *mut u32, value: u32) {
    // SAFETY: the caller guarantees `counter`; the instruction writes only
    // there.
    unsafe {
        core::arch::asm!(
            "lock *(u32 *)({counter} + 0) += {value}",
            counter = in(reg) counter,
            value = in(reg) u64::from(value),
        );
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // BPF cannot unwind; a reachable panic makes the verifier reject the
    // program, since this loop never ends.
    loop {}
}

/// The kernel allows GPL-only helpers (the probe reads) only to programs
/// whose license section names a GPL-compatible license.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
