//! `sockets`: the socket-side attach kinds, each counting what it sees:
//!
//! - `count_egress` (TC egress classifier): IPv4 packets leaving an
//!   interface, per IP protocol, in `TC_EGRESS_PACKETS` (per CPU);
//! - `count_socket` (socket filter, on the loader's AF_PACKET socket): IPv4
//!   frames addressed to the interface's host (`PACKET_HOST`: not the ones it
//!   sends), per IP protocol, in `SOCKET_PACKETS` (per CPU); it returns 0,
//!   so the socket queues nothing;
//! - `cgroup_ingress` / `cgroup_egress` (cgroup_skb): packets and bytes
//!   received and sent by the sockets of a cgroup's processes, in
//!   `CGROUP_SKB[0]` (ingress) and `CGROUP_SKB[1]` (egress).
//!
//! ```sh
//! kmatrix-loader ... --attach count_egress=tc-egress:veth-a \
//!   --attach count_socket=socket-filter:packet:veth-b \
//!   --attach cgroup_ingress=cgroup-skb-ingress:/sys/fs/cgroup/kmx \
//!   --attach cgroup_egress=cgroup-skb-egress:/sys/fs/cgroup/kmx \
//!   --map TC_EGRESS_PACKETS --map SOCKET_PACKETS --map CGROUP_SKB
//! ```
//!
//! Every program only observes: packets pass unchanged.
#![no_std]
#![no_main]
// For the inline `lock +=` in atomic.rs.
#![feature(asm_experimental_arch)]

use aya_ebpf::{
    bindings::TC_ACT_OK,
    macros::{cgroup_skb, classifier, map, socket_filter},
    maps::{Array, PerCpuArray},
    programs::{SkBuffContext, TcContext},
};
use kmatrix_common::SkbCounts;

#[path = "../runtime.rs"]
mod runtime;

#[path = "../atomic.rs"]
mod atomic;
use atomic::atomic_add;

/// Ethernet header: destination and source MAC, then the EtherType.
const ETH_HLEN: usize = 14;
const ETH_TYPE_OFF: usize = 12;
/// EtherType of IPv4, as its two bytes on the wire.
const ETH_P_IP: [u8; 2] = [0x08, 0x00];
/// The protocol byte's offset in the IPv4 header.
const IP_PROTO_OFF: usize = 9;
/// `skb->pkt_type` of a frame addressed to this host.
const PACKET_HOST: u32 = 0;
/// One slot per possible protocol byte.
const PROTOCOLS: u32 = 256;

#[map]
static TC_EGRESS_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROTOCOLS, 0);

#[map]
static SOCKET_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROTOCOLS, 0);

/// Index 0: ingress, 1: egress. Shared by every CPU, so added to atomically.
#[map]
static CGROUP_SKB: Array<SkbCounts> = Array::with_max_entries(2, 0);

#[classifier]
pub fn count_egress(ctx: TcContext) -> i32 {
    if let Some(proto) = ipv4_protocol(|offset| ctx.load::<u8>(offset).ok()) {
        count(&TC_EGRESS_PACKETS, proto);
    }
    TC_ACT_OK
}

#[socket_filter]
pub fn count_socket(ctx: SkBuffContext) -> i64 {
    // SAFETY: the context is the kernel's __sk_buff for this program.
    let pkt_type = unsafe { (*ctx.skb.skb).pkt_type };
    if pkt_type == PACKET_HOST
        && let Some(proto) = ipv4_protocol(|offset| ctx.load::<u8>(offset).ok())
    {
        count(&SOCKET_PACKETS, proto);
    }
    0
}

#[cgroup_skb(ingress)]
pub fn cgroup_ingress(ctx: SkBuffContext) -> i32 {
    count_skb(0, ctx.len());
    1
}

#[cgroup_skb(egress)]
pub fn cgroup_egress(ctx: SkBuffContext) -> i32 {
    count_skb(1, ctx.len());
    1
}

/// The IPv4 protocol byte of an Ethernet frame read through `load`, if it
/// is IPv4.
#[inline(always)]
fn ipv4_protocol(load: impl Fn(usize) -> Option<u8>) -> Option<u8> {
    let ethertype = [load(ETH_TYPE_OFF)?, load(ETH_TYPE_OFF + 1)?];
    if ethertype != ETH_P_IP {
        return None;
    }
    load(ETH_HLEN + IP_PROTO_OFF)
}

/// Adds one to `map[proto]` on this CPU (per-CPU values need no atomics).
#[inline(always)]
fn count(map: &PerCpuArray<u64>, proto: u8) {
    if let Some(counter) = map.get_ptr_mut(u32::from(proto)) {
        // SAFETY: `counter` comes from a successful lookup, so it points at
        // this CPU's live, 8-byte aligned value.
        unsafe { *counter += 1 };
    }
}

/// One packet of `len` bytes into `CGROUP_SKB[index]`.
#[inline(always)]
fn count_skb(index: u32, len: u32) {
    if let Some(counts) = CGROUP_SKB.get_ptr_mut(index) {
        // SAFETY: `counts` comes from a successful lookup of a live, 8-byte
        // aligned array value.
        unsafe {
            atomic_add(&raw mut (*counts).packets, 1);
            atomic_add(&raw mut (*counts).bytes, u64::from(len));
        }
    }
}
