// TCP connects seen from a kprobe on tcp_connect, reading the destination
// and source port from struct sock at offsets taken from the running
// kernel's BTF. The guest connects to listeners on known ports, from the
// main thread and from other threads; events must equal those connects as
// the client and the listener saw them (process, thread, address, ports,
// comm), and the per-port LRU counts must be exact.
import { test, expect, annotateOffsets, TCP_PROBE_COMM, generateConnects, ipv4FromNetworkOrder } from 'kmatrix';

const PORTS = [18080, 18443];
const PER_PORT = 4;

test('every connect: pid, destination address and port, and per-port counts', async ({ vm, startLoader, annotate }) => {
  const loader = await startLoader('tcp_connect', {
    attach: { tcp_connect: 'kprobe:tcp_connect' },
    ringbufs: { TCP_EVENTS: 'TcpEvent' },
    maps: { CONNECTS_BY_PORT: 'declared' },
    btfOffsets: {
      SOCK_DADDR_OFF: 'sock.__sk_common.skc_daddr',
      SOCK_DPORT_OFF: 'sock.__sk_common.skc_dport',
      SOCK_NUM_OFF: 'sock.__sk_common.skc_num',
      SOCK_FAMILY_OFF: 'sock.__sk_common.skc_family',
    },
  });
  const truth = await generateConnects(vm.guest, { ports: PORTS, perPort: PER_PORT });
  expect(truth).toHaveLength(PORTS.length * PER_PORT);
  // The kprobe runs inline with each connect: once the generator has
  // returned every record is in the ring buffer; stop() drains them all.
  const result = await loader.stop();
  await annotateOffsets(annotate, result.ready.offsets ?? {});

  const events = result.events
    .filter((e) => e.fields.comm === TCP_PROBE_COMM)
    .map((e) => ({ ...e.fields, daddr: ipv4FromNetworkOrder(e.fields.daddr as number) }));
  expect(truth.some((t) => t.tid !== t.pid), 'some connects came from threads other than the main one').toBe(true);
  expect(events).toMatchTruth(truth, {
    kernel: vm.kernel.name,
    source: 'RingBuf TCP_EVENTS',
    key: 'sport',
    fields: ['pid', 'tid', 'daddr', 'dport', 'sport', 'comm'],
  });
  for (const port of PORTS) {
    const accepted = truth.filter((t) => t.dport === port).length;
    expect(result.maps.get('CONNECTS_BY_PORT')).toHaveMapEntry(port, accepted, { kernel: vm.kernel.name });
  }
});
