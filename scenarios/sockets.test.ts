// The socket-side attach kinds, each against what the receiving or sending
// side itself counted:
// - a TC egress classifier on A's end of a veth pair and a socket filter on
//   an AF_PACKET socket on B's end count IPv4 packets per protocol; the
//   truth is what B's own IP stack counted as received (/proc/net/snmp);
// - cgroup_skb ingress and egress programs on a cgroup count the packets and
//   bytes of a process in it, which sends UDP datagrams to itself over
//   loopback; the truth is what its sendto() and recvfrom() returned.
import { test, expect, type MapLine, IPPROTO, NET, countsBetween, createVethPair, readReceived, sendPackets, createCgroup, removeCgroup, udpInCgroup } from 'kmatrix';

/** Sums a per-CPU array's value at `index` over the CPUs. */
function perCpuSum(map: MapLine | undefined, index: number): number | undefined {
  const entry = map?.entries.find((e) => e.key === index);
  if (!entry) return undefined;
  const values = Array.isArray(entry.value) ? entry.value : [entry.value];
  return values.reduce<number>((sum, v) => sum + Number(v), 0);
}

/** IPv4 header (no options) and UDP header: skb->len of a datagram is its payload plus these. */
const IPV4_UDP_HEADERS = 20 + 8;

test('tc-egress on the sender and a socket filter on the receiver count what the receiver got', async ({ vm, startLoader }) => {
  await createVethPair(vm.guest);
  const egress = await startLoader('sockets', {
    netns: NET.nsA,
    attach: { count_egress: `tc-egress:${NET.ifA}` },
    maps: { TC_EGRESS_PACKETS: 'declared' },
  });
  const socket = await startLoader('sockets', {
    netns: NET.nsB,
    attach: { count_socket: `socket-filter:packet:${NET.ifB}` },
    maps: { SOCKET_PACKETS: 'declared' },
  });
  expect(egress.ready.programs).toEqual([{ name: 'count_egress', type: 'tc', attach: `${NET.ifA} egress` }]);
  expect(socket.ready.programs).toEqual([{ name: 'count_socket', type: 'socket_filter', attach: `packet socket on ${NET.ifB}` }]);
  const before = await readReceived(vm.guest);
  await sendPackets(vm.guest, { icmp: 3, udp: 4, tcp: 2 });
  const received = countsBetween(before, await readReceived(vm.guest));
  const results = { TC_EGRESS_PACKETS: await egress.stop(), SOCKET_PACKETS: await socket.stop() };

  const { ip, ...perProtocol } = received;
  expect(ip, `kernel ${vm.kernel.name}: B received ${ip} IPv4 packets, ${JSON.stringify(perProtocol)} by protocol`).toBe(
    perProtocol.icmp + perProtocol.udp + perProtocol.tcp,
  );
  for (const [map, result] of Object.entries(results)) {
    const counted = Object.fromEntries(Object.entries(IPPROTO).map(([name, proto]) => [name, perCpuSum(result.maps.get(map), proto)]));
    expect(counted, `kernel ${vm.kernel.name}: ${map} per IP protocol, summed over CPUs, against what B received`).toEqual(perProtocol);
  }
});

test('cgroup_skb ingress and egress count the packets and bytes of the cgroup\'s process', async ({ vm, startLoader }) => {
  const cgroup = await createCgroup(vm.guest, 'kmatrix-skb');
  try {
    const loader = await startLoader('sockets', {
      attach: { cgroup_ingress: `cgroup-skb-ingress:${cgroup}`, cgroup_egress: `cgroup-skb-egress:${cgroup}` },
      maps: { CGROUP_SKB: 'declared' },
    });
    const truth = await udpInCgroup(vm.guest, cgroup, [10, 100, 500, 1000, 1400]);
    const result = await loader.stop();
    const kernel = vm.kernel.name;
    expect(cgroup.endsWith(truth.cgroup), `the process ran in ${truth.cgroup}, not in ${cgroup}`).toBe(true);
    const counts = (sizes: number[]) => ({ packets: sizes.length, bytes: sizes.reduce((sum, n) => sum + n + IPV4_UDP_HEADERS, 0) });
    expect(result.maps.get('CGROUP_SKB')).toHaveMapEntry(0, counts(truth.received), { kernel });
    expect(result.maps.get('CGROUP_SKB')).toHaveMapEntry(1, counts(truth.sent), { kernel });
  } finally {
    await removeCgroup(vm.guest, cgroup);
  }
});
