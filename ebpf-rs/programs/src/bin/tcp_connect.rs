//! `tcp_connect`: a kprobe on the kernel's `tcp_connect(struct sock *sk)`,
//! which every active TCP open goes through. It reports the destination read
//! out of `sk->__sk_common` at offsets the loader looked up in the running
//! kernel's BTF and wrote into the globals below before load:
//!
//! ```sh
//! kmatrix-loader ... --attach tcp_connect=kprobe:tcp_connect \
//!   --btf-offset SOCK_DADDR_OFF=sock.__sk_common.skc_daddr \
//!   --btf-offset SOCK_DPORT_OFF=sock.__sk_common.skc_dport \
//!   --btf-offset SOCK_NUM_OFF=sock.__sk_common.skc_num \
//!   --btf-offset SOCK_FAMILY_OFF=sock.__sk_common.skc_family
//! ```
//!
//! - `TCP_EVENTS` streams one `TcpEvent` per connect.
//! - `CONNECTS_BY_PORT` counts connects per destination port (host order).
//!   It is an LRU map so an unbounded set of ports cannot fill it up.
#![no_std]
#![no_main]
// For the inline `lock +=` in atomic.rs.
#![feature(asm_experimental_arch)]

use core::ptr::read_volatile;

#[path = "../runtime.rs"]
mod runtime;

#[path = "../atomic.rs"]
mod atomic;
use atomic::atomic_inc;

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel, generated as helper},
    macros::{kprobe, map},
    maps::{LruHashMap, RingBuf},
    programs::ProbeContext,
};
use kmatrix_common::{TASK_COMM_LEN, TcpEvent};

// Left at 0 unless the loader sets them. skc_daddr really is at offset 0
// of sock_common, but without --btf-offset the port and family read the
// same word, which a test notices.
#[unsafe(no_mangle)]
static SOCK_DADDR_OFF: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_DPORT_OFF: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_NUM_OFF: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_FAMILY_OFF: u32 = 0;

#[map]
static TCP_EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

#[map]
static CONNECTS_BY_PORT: LruHashMap<u16, u64> = LruHashMap::with_max_entries(1024, 0);

#[kprobe]
pub fn tcp_connect(ctx: ProbeContext) -> u32 {
    let Some(sk) = ctx.arg::<*const u8>(0) else {
        return 0;
    };
    // Volatile reads: to rustc these statics are the constant 0; only the
    // loader's patching of .rodata makes them differ (see task_btf).
    // SAFETY: plain reads of initialised statics.
    let (daddr_off, dport_off, num_off, family_off) = unsafe {
        (
            read_volatile(&SOCK_DADDR_OFF),
            read_volatile(&SOCK_DPORT_OFF),
            read_volatile(&SOCK_NUM_OFF),
            read_volatile(&SOCK_FAMILY_OFF),
        )
    };
    // wrapping_add: kernel addresses, not Rust allocations. A read that
    // faults yields 0.
    // SAFETY: bpf_probe_read_kernel copies through a checked path and fails
    // cleanly on a bad address.
    let (daddr, dport, sport, family) = unsafe {
        (
            bpf_probe_read_kernel(sk.wrapping_add(daddr_off as usize).cast::<u32>()).unwrap_or(0),
            bpf_probe_read_kernel(sk.wrapping_add(dport_off as usize).cast::<u16>()).unwrap_or(0),
            bpf_probe_read_kernel(sk.wrapping_add(num_off as usize).cast::<u16>()).unwrap_or(0),
            bpf_probe_read_kernel(sk.wrapping_add(family_off as usize).cast::<u16>()).unwrap_or(0),
        )
    };
    // skc_dport is __be16.
    let dport = u16::from_be(dport);

    count_connect(dport);

    let Some(mut entry) = TCP_EVENTS.reserve::<TcpEvent>(0) else {
        return 0;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points at a reserved, correctly sized and aligned
    // TcpEvent; fields are written in place, as in `exec`, to keep the
    // program free of memcpy/memset calls.
    let pid_tgid = bpf_get_current_pid_tgid();
    unsafe {
        (*event).pid = (pid_tgid >> 32) as u32;
        (*event).tid = pid_tgid as u32;
        (*event).daddr = daddr;
        (*event).dport = dport;
        // skc_num is already in host byte order (unlike skc_dport).
        (*event).sport = sport;
        (*event).family = family;
        (*event).reserved = 0;
        // The kernel NUL-pads comm, and zero-fills it if the helper fails.
        helper::bpf_get_current_comm((&raw mut (*event).comm).cast(), TASK_COMM_LEN as u32);
    }
    entry.submit(0);
    0
}

/// Adds one to `CONNECTS_BY_PORT[dport]`, creating the entry on first
/// sight; the same scheme as `exec`'s `count_exec`.
fn count_connect(dport: u16) {
    if let Some(count) = CONNECTS_BY_PORT.get_ptr_mut(dport) {
        atomic_inc(count);
        return;
    }
    // NOEXIST: another CPU may have created the entry since the lookup.
    if CONNECTS_BY_PORT
        .insert(dport, 1, BPF_NOEXIST.into())
        .is_err()
        && let Some(count) = CONNECTS_BY_PORT.get_ptr_mut(dport)
    {
        atomic_inc(count);
    }
}
