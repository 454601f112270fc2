// Every exec is seen: a tracepoint on sched/sched_process_exec emits one
// RingBuf event per exec (pid, tgid, uid, gid, comm) and counts execs per uid
// in a hash map. The guest runs a known program N times and records what
// really happened; events and counts must equal that, field by field.
import { test, expect, requireKernel, EXEC_PROBE_COMM, generateExecs } from 'kmatrix';

const RUNS = 25;
const PROBE_UID = 4242;
const PROBE_GID = 4343;

test('exec events and per-uid counts match what the guest ran', async ({ vm, kernel, skip, startLoader }) => {
  requireKernel({ kernel, skip }, '5.8', 'BPF_MAP_TYPE_RINGBUF');
  const loader = await startLoader('exec', {
    attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { EXEC_EVENTS: 'ExecEvent' },
    maps: { EXECS_BY_UID: 'declared', EXEC_DROPPED: 'declared' },
  });
  expect(loader.ready.programs).toContainEqual({ name: 'sched_process_exec', type: 'tracepoint', attach: 'sched/sched_process_exec' });

  const truth = await generateExecs(vm.guest, { count: RUNS, ids: { uid: PROBE_UID, gid: PROBE_GID } });
  // The program runs inline with each exec, so once the generator has
  // returned every record is in the buffers; stop() drains them all.
  const result = await loader.stop();
  const ours = (events: typeof result.events) => events.filter((e) => e.fields.comm === EXEC_PROBE_COMM);

  // Other processes exec too (the generator's own shell, nice, setpriv,
  // cat): they are left out by comm, and the probe's events must then be
  // exactly the truth: one per run, each field as the probe saw itself.
  const events = ours(result.events).map((e) => e.fields);
  expect(events).toMatchTruth(truth, { kernel: vm.kernel.name, source: 'RingBuf EXEC_EVENTS', key: 'pid', fields: ['pid', 'tgid', 'uid', 'gid', 'comm'] });
  // Only the probe ran under PROBE_UID, so its count is the number of runs.
  expect(result.maps.get('EXECS_BY_UID')).toHaveMapEntry(PROBE_UID, truth.length, { kernel: vm.kernel.name });
  expect(result.maps.get('EXEC_DROPPED')).toHaveMapEntry(0, 0, { kernel: vm.kernel.name });
});
