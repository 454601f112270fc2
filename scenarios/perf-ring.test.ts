// The same events through two transports: `perf_ring` sends every exec both
// to a RingBuf and to a PerfEventArray (read per CPU by the loader). Both
// streams must carry exactly the execs the guest ran, and therefore the same
// set; what either lost or dropped is counted and reported.
import { test, expect, annotateNote, EXEC_PROBE_COMM, generateExecs } from 'kmatrix';

const RUNS = 20;
const FIELDS = ['pid', 'tgid', 'uid', 'gid', 'comm'];

test('RingBuf and PerfEventArray carry the same events, equal to the truth', async ({ vm, startLoader, annotate }) => {
  const loader = await startLoader('perf_ring', {
    attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { RING_EVENTS: 'ExecEvent' },
    perf: { PERF_EVENTS: 'ExecEvent' },
    maps: { RING_DROPPED: 'u32:u64' },
  });
  const truth = await generateExecs(vm.guest, { count: RUNS, ids: { uid: 4242, gid: 4343 } });
  // The program runs inline with each exec, so once the generator has
  // returned every record is in the buffers; stop() drains both.
  const result = await loader.stop();
  const probeFields = (map: string) => result.events.filter((e) => e.map === map && e.fields.comm === EXEC_PROBE_COMM).map((e) => e.fields);
  const ring = probeFields('RING_EVENTS');
  const perf = probeFields('PERF_EVENTS');
  const kernel = vm.kernel.name;
  expect(ring).toMatchTruth(truth, { kernel, source: 'RingBuf RING_EVENTS', key: 'pid', fields: FIELDS });
  expect(perf).toMatchTruth(truth, { kernel, source: 'PerfEventArray PERF_EVENTS', key: 'pid', fields: FIELDS });
  // Across all execs, not just the probe's, the two streams hold the same
  // set. One pid can exec several programs (nice, then setpriv, then the
  // probe), so an exec is identified by pid and comm.
  const allOf = (map: string) =>
    result.events.filter((e) => e.map === map).map((e) => ({ ...e.fields, exec: `${e.fields.pid}/${e.fields.comm}` }));
  expect(allOf('PERF_EVENTS')).toMatchTruth(allOf('RING_EVENTS'), { kernel, source: 'PERF_EVENTS against RING_EVENTS', key: 'exec', fields: FIELDS });

  const lost = Number(result.stats.lost?.PERF_EVENTS ?? 0);
  const dropped = Number(result.maps.get('RING_DROPPED')?.entries.find((e) => e.key === 0)?.value ?? 0);
  expect({ lost, dropped }, `kernel ${kernel}: nothing lost at this rate`).toEqual({ lost: 0, dropped: 0 });
  await annotateNote(annotate, `ring ${allOf('RING_EVENTS').length} events, perf ${allOf('PERF_EVENTS').length}; perf lost ${lost}, ring dropped ${dropped}`);
});
