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

/** IPv4 packets per IP protocol. */
export interface PacketCounts {
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
 * Sends `perCpu.icmp` echo requests, `perCpu.udp` datagrams and `perCpu.tcp`
 * connects (one SYN each: the port is closed, B answers RST, so there are no
 * retransmits) from A to B, once pinned to each of the guest's CPUs, so that
 * per-CPU counters see traffic on every CPU. Each tool reports failure
 * rather than sending less.
 */
export async function sendPackets(guest: Guest, perCpu: PacketCounts): Promise<void> {
  const { nsA, addrB } = NET;
  const script = `
set -eu
for cpu in $(seq 0 $(($(nproc) - 1))); do
  ip netns exec ${nsA} taskset -c $cpu busybox ping -q -c ${perCpu.icmp} -i 0.2 -W 2 ${addrB} > /dev/null
  ip netns exec ${nsA} taskset -c $cpu bash -c 'for i in $(seq ${perCpu.udp}); do echo kmatrix > /dev/udp/${addrB}/9999; done'
  ip netns exec ${nsA} taskset -c $cpu bash -c 'for i in $(seq ${perCpu.tcp}); do (exec 3<>/dev/tcp/${addrB}/9998) 2>/dev/null && exit 1; done; true'
done`;
  await runGuestScript(guest, 'sending packets', script, { timeout: 120_000, shell: 'bash' });
}

/** IPv4 packets B's own IP stack counted as received, in total and per protocol. */
export type ReceivedCounts = PacketCounts & { ip: number };

/**
 * What B's kernel counted as received, from B's own /proc/net/snmp: IP
 * InReceives in all; ICMP InMsgs; UDP InDatagrams + NoPorts + InErrors
 * (datagrams to a closed port count as NoPorts); TCP InSegs. Read before and
 * after the traffic, the difference is what arrived.
 */
export async function readReceived(guest: Guest): Promise<ReceivedCounts> {
  const result = await guest.exec(`ip netns exec ${NET.nsB} cat /proc/net/snmp`, { timeout: 30_000 });
  if (result.code !== 0) throw new Error(`reading ${NET.nsB}'s /proc/net/snmp failed (exit ${result.code}): ${result.stderr}`);
  return receivedFromSnmp(result.stdout);
}

/** Parses /proc/net/snmp (pairs of lines: `Proto: names…`, `Proto: values…`). */
export function receivedFromSnmp(snmp: string): ReceivedCounts {
  const table = new Map<string, Map<string, number>>();
  const lines = snmp.split('\n').filter((l) => l.trim());
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [proto, ...names] = lines[i]!.split(/\s+/);
    const [again, ...values] = lines[i + 1]!.split(/\s+/);
    if (proto !== again) throw new Error(`/proc/net/snmp: "${proto}" names followed by "${again}" values`);
    table.set(proto!.replace(/:$/, ''), new Map(names.map((n, k) => [n, Number(values[k])])));
  }
  const get = (proto: string, name: string) => {
    const value = table.get(proto)?.get(name);
    if (value === undefined || Number.isNaN(value)) throw new Error(`/proc/net/snmp has no ${proto} ${name}`);
    return value;
  };
  return {
    ip: get('Ip', 'InReceives'),
    icmp: get('Icmp', 'InMsgs'),
    udp: get('Udp', 'InDatagrams') + get('Udp', 'NoPorts') + get('Udp', 'InErrors'),
    tcp: get('Tcp', 'InSegs'),
  };
}

export function countsBetween(before: ReceivedCounts, after: ReceivedCounts): ReceivedCounts {
  return { ip: after.ip - before.ip, icmp: after.icmp - before.icmp, udp: after.udp - before.udp, tcp: after.tcp - before.tcp };
}
