//! `packets`: counts received IPv4 packets per IP protocol, twice: once in
//! XDP (before the kernel builds an skb) and once in a TC ingress
//! classifier (after), so a test can compare both hooks on one interface:
//!
//! ```sh
//! kmatrix-loader ... --attach count_xdp=xdp:veth-b \
//!   --attach count_tc=tc-ingress:veth-b \
//!   --map XDP_PACKETS=u32:u64 --map TC_PACKETS=u32:u64
//! ```
//!
//! - `XDP_PACKETS[proto]` / `TC_PACKETS[proto]` count packets whose IPv4
//!   protocol byte is `proto` (1 ICMP, 6 TCP, 17 UDP, ...). Anything that is
//!   not IPv4 over Ethernet (ARP, IPv6, VLAN-tagged) is not counted.
//!
//! Both programs only observe: every packet is passed on unchanged.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{TC_ACT_OK, xdp_action::XDP_PASS},
    macros::{classifier, map, xdp},
    maps::PerCpuArray,
    programs::{TcContext, XdpContext},
};

#[path = "../runtime.rs"]
mod runtime;

/// Ethernet header: destination and source MAC, then the EtherType.
const ETH_HLEN: usize = 14;
const ETH_TYPE_OFF: usize = 12;
/// EtherType of IPv4, as its two bytes on the wire.
const ETH_P_IP: [u8; 2] = [0x08, 0x00];
/// The protocol byte's offset in the IPv4 header.
const IP_PROTO_OFF: usize = 9;

/// One slot per possible protocol byte.
const PROTOCOLS: u32 = 256;

#[map]
static XDP_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROTOCOLS, 0);

#[map]
static TC_PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROTOCOLS, 0);

#[xdp]
pub fn count_xdp(ctx: XdpContext) -> u32 {
    if let Some(proto) = xdp_ipv4_protocol(&ctx) {
        count(&XDP_PACKETS, proto);
    }
    XDP_PASS
}

#[classifier]
pub fn count_tc(ctx: TcContext) -> i32 {
    if let Some(proto) = tc_ipv4_protocol(&ctx) {
        count(&TC_PACKETS, proto);
    }
    TC_ACT_OK
}

/// The IPv4 protocol byte of the frame XDP sees, read in place. The bytes
/// are read one at a time: the verifier checks each access against
/// `data_end`, and single bytes need no alignment.
fn xdp_ipv4_protocol(ctx: &XdpContext) -> Option<u8> {
    let ethertype = [
        *ptr_at::<u8>(ctx, ETH_TYPE_OFF)?,
        *ptr_at::<u8>(ctx, ETH_TYPE_OFF + 1)?,
    ];
    if ethertype != ETH_P_IP {
        return None;
    }
    Some(*ptr_at::<u8>(ctx, ETH_HLEN + IP_PROTO_OFF)?)
}

/// The same for the skb TC sees. `load` copies through
/// `bpf_skb_load_bytes`, which also reaches headers outside the skb's
/// linear part, where direct packet access would stop.
fn tc_ipv4_protocol(ctx: &TcContext) -> Option<u8> {
    let ethertype = [
        ctx.load::<u8>(ETH_TYPE_OFF).ok()?,
        ctx.load::<u8>(ETH_TYPE_OFF + 1).ok()?,
    ];
    if ethertype != ETH_P_IP {
        return None;
    }
    ctx.load::<u8>(ETH_HLEN + IP_PROTO_OFF).ok()
}

/// A reference to the `T` at `offset` in the packet, if all of it lies
/// before `data_end`. The comparison is what lets the verifier accept the
/// read.
#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<&T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return None;
    }
    // SAFETY: [start + offset, start + offset + size_of::<T>()) was just
    // checked to lie inside the packet, which stays in place while the
    // program runs; T is only ever u8 here, so alignment is moot.
    Some(unsafe { &*((start + offset) as *const T) })
}

/// Adds one to `map[proto]` on this CPU. Each CPU has its own copy of a
/// per-CPU array's values, and the lookup returns the running CPU's, so
/// unlike `exec`'s shared counters this needs no atomic add.
#[inline(always)]
fn count(map: &PerCpuArray<u64>, proto: u8) {
    if let Some(counter) = map.get_ptr_mut(u32::from(proto)) {
        // SAFETY: `counter` comes from a successful lookup, so it points at
        // this CPU's live, 8-byte aligned value.
        unsafe { *counter += 1 };
    }
}
