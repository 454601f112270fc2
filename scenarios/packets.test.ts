// Packets counted per IP protocol by an XDP program and a TC ingress
// classifier on the receiving end of a veth pair between two network
// namespaces. The guest sends ICMP, UDP and TCP packets from every CPU; the
// truth is what the receiving namespace's own IP stack counted as received
// (its /proc/net/snmp, read before and after). Both per-CPU counters, summed
// over CPUs, must equal it exactly.
import { test, expect, type MapLine, IPPROTO, NET, countsBetween, createVethPair, readReceived, sendPackets } from 'kmatrix';

/** Sums a per-CPU array's value at `index` over the CPUs. */
function perCpuSum(map: MapLine | undefined, index: number): number | undefined {
  const entry = map?.entries.find((e) => e.key === index);
  if (!entry) return undefined;
  const values = Array.isArray(entry.value) ? entry.value : [entry.value];
  return values.reduce<number>((sum, v) => sum + Number(v), 0);
}

test('XDP and TC count exactly the ICMP, UDP and TCP packets the receiver got', async ({ vm, startLoader }) => {
  await createVethPair(vm.guest);
  const loader = await startLoader('packets', {
    netns: NET.nsB,
    attach: { count_xdp: `xdp:${NET.ifB}`, count_tc: `tc-ingress:${NET.ifB}` },
    maps: { XDP_PACKETS: 'declared', TC_PACKETS: 'declared' },
  });
  const before = await readReceived(vm.guest);
  await sendPackets(vm.guest, { icmp: 3, udp: 4, tcp: 2 });
  const received = countsBetween(before, await readReceived(vm.guest));
  const result = await loader.stop();

  const { ip, ...perProtocol } = received;
  // The truth is consistent: every IPv4 packet B received was one of the three.
  expect(ip, `kernel ${vm.kernel.name}: B received ${ip} IPv4 packets, ${JSON.stringify(perProtocol)} by protocol`).toBe(
    perProtocol.icmp + perProtocol.udp + perProtocol.tcp,
  );
  for (const map of ['XDP_PACKETS', 'TC_PACKETS']) {
    const counted = Object.fromEntries(Object.entries(IPPROTO).map(([name, proto]) => [name, perCpuSum(result.maps.get(map), proto)]));
    expect(counted, `kernel ${vm.kernel.name}: ${map} per IP protocol, summed over CPUs, against what B received`).toEqual(perProtocol);
  }
});
