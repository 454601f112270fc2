// Packets counted per IP protocol by an XDP program and a TC ingress
// classifier on the receiving end of a veth pair between two network
// namespaces. The guest sends exact numbers of ICMP, UDP and TCP packets;
// both per-CPU counters, summed over CPUs, must equal them exactly.
import { test, expect } from '../harness/scenario/fixtures.ts';
import type { MapLine } from '../harness/loader/protocol.ts';
import { IPPROTO, NET, createVethPair, sendPackets, type PacketTruth } from '../harness/traffic/packets.ts';

const TRUTH: PacketTruth = { icmp: 5, udp: 7, tcp: 3 };

/** Sums a per-CPU array's value at `index` over the CPUs. */
function perCpuSum(map: MapLine | undefined, index: number): number | undefined {
  const entry = map?.entries.find((e) => e.key === index);
  if (!entry) return undefined;
  const values = Array.isArray(entry.value) ? entry.value : [entry.value];
  return values.reduce<number>((sum, v) => sum + Number(v), 0);
}

test('XDP and TC count exactly the ICMP, UDP and TCP packets sent', async ({ vm, startLoader }) => {
  await createVethPair(vm.guest);
  const loader = await startLoader('packets', {
    netns: NET.nsB,
    attach: { count_xdp: `xdp:${NET.ifB}`, count_tc: `tc-ingress:${NET.ifB}` },
    maps: { XDP_PACKETS: 'u32:u64', TC_PACKETS: 'u32:u64' },
  });
  await sendPackets(vm.guest, TRUTH);
  const result = await loader.stop();

  const expected = { icmp: TRUTH.icmp, udp: TRUTH.udp, tcp: TRUTH.tcp };
  for (const map of ['XDP_PACKETS', 'TC_PACKETS']) {
    const got = Object.fromEntries(
      Object.entries(IPPROTO).map(([name, proto]) => [name, perCpuSum(result.maps.get(map), proto)]),
    );
    expect(got, `kernel ${vm.kernel.name}: ${map} per IP protocol, summed over CPUs`).toEqual(expected);
  }
});
