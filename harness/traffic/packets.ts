import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/** Two network namespaces joined by a veth pair: packets go from A to B. */
export const NET = {
  nsA: 'kmx-a',
  nsB: 'kmx-b',
  ifA: 'veth-a',
  ifB: 'veth-b',
  addrA: '10.77.0.1',
  addrB: '10.77.0.2',
} as const;

/** Exact numbers of IPv4 packets sent from A to B, per IP protocol number. */
export interface PacketTruth {
  icmp: number;
  udp: number;
  tcp: number;
}

export const IPPROTO = { icmp: 1, tcp: 6, udp: 17 } as const;

/**
 * Builds the two namespaces and the veth pair. IPv6 is off on both sides
 * before the links come up, so no neighbour discovery or MLD packets cross;
 * ARP does, but it is not IPv4 and the programs do not count it.
 */
export async function createVethPair(guest: Guest): Promise<void> {
  const { nsA, nsB, ifA, ifB, addrA, addrB } = NET;
  const script = `
set -eu
ip netns add ${nsA}
ip netns add ${nsB}
for ns in ${nsA} ${nsB}; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add ${ifA} netns ${nsA} type veth peer name ${ifB} netns ${nsB}
ip -n ${nsA} addr add ${addrA}/24 dev ${ifA}
ip -n ${nsB} addr add ${addrB}/24 dev ${ifB}
ip -n ${nsA} link set ${ifA} up
ip -n ${nsB} link set ${ifB} up`;
  await runGuestScript(guest, 'creating the veth pair', script, { timeout: 60_000 });
}

/**
 * Sends exactly `truth.icmp` echo requests, `truth.udp` datagrams and
 * `truth.tcp` connects (one SYN each: the port is closed, B answers RST, so
 * there are no retransmits) from A to B. Each tool reports failure rather
 * than sending less, so the counts are what went on the wire.
 */
export async function sendPackets(guest: Guest, truth: PacketTruth): Promise<void> {
  const { nsA, addrB } = NET;
  const script = `
set -eu
ip netns exec ${nsA} busybox ping -q -c ${truth.icmp} -i 0.2 -W 2 ${addrB} > /dev/null
ip netns exec ${nsA} bash -c 'for i in $(seq ${truth.udp}); do echo kmatrix > /dev/udp/${addrB}/9999; done'
ip netns exec ${nsA} bash -c 'for i in $(seq ${truth.tcp}); do (exec 3<>/dev/tcp/${addrB}/9998) 2>/dev/null && exit 1; done; true'`;
  await runGuestScript(guest, 'sending packets', script, { timeout: 120_000, shell: 'bash' });
}
