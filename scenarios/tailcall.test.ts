// Tail calls: a dispatcher on sched_process_exec tail-calls slot uid % 2 of
// a ProgramArray that the loader filled (--prog-array) before attaching;
// the program in that slot reports the exec and its slot. The guest runs
// the exec probe under an even and an odd uid, and each run's pid and uid
// come from the probe itself: every run must be reported once, by the slot
// its uid leads to. With slot 1 left empty, the odd runs must come back
// from the dispatcher itself as missed tail calls.
import { test, expect, LoaderError, generateExecs, type ExecTruth } from 'kmatrix';

const RUNS = 4;
const EVEN_UID = 4242;
const ODD_UID = 4243;
/** TailEvent.slot of a failed tail call (kmatrix_common::TAIL_CALL_MISSED). */
const MISSED = 255;

async function runBoth(guest: Parameters<typeof generateExecs>[0]): Promise<ExecTruth[]> {
  const even = await generateExecs(guest, { count: RUNS, ids: { uid: EVEN_UID, gid: EVEN_UID } });
  const odd = await generateExecs(guest, { count: RUNS, ids: { uid: ODD_UID, gid: ODD_UID } });
  return [...even, ...odd];
}

test('each exec lands in the program array slot its uid selects', async ({ vm, startLoader }) => {
  const loader = await startLoader('tailcall', {
    progArrays: { JUMP: { 0: 'on_even', 1: 'on_odd' } },
    attach: { dispatch: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { TAIL_EVENTS: 'TailEvent' },
  });
  const truth = await runBoth(vm.guest);
  const result = await loader.stop();
  expect(result.events.map((e) => e.fields)).toMatchTruth(
    truth.map((t) => ({ pid: t.pid, uid: t.uid, slot: t.uid % 2 })),
    { kernel: vm.kernel.name, source: 'RingBuf TAIL_EVENTS', key: 'pid', fields: ['pid', 'uid', 'slot'] },
  );
});

test('an empty slot: the tail call fails and the dispatcher goes on', async ({ vm, startLoader }) => {
  const loader = await startLoader('tailcall', {
    progArrays: { JUMP: { 0: 'on_even' } },
    attach: { dispatch: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { TAIL_EVENTS: 'TailEvent' },
  });
  const truth = await runBoth(vm.guest);
  const result = await loader.stop();
  expect(result.events.map((e) => e.fields)).toMatchTruth(
    truth.map((t) => ({ pid: t.pid, uid: t.uid, slot: t.uid % 2 === 0 ? 0 : MISSED })),
    { kernel: vm.kernel.name, source: 'RingBuf TAIL_EVENTS', key: 'pid', fields: ['pid', 'uid', 'slot'] },
  );
});

test('a program array entry naming no program of the object is a clean error before anything is attached', async ({ startLoader }) => {
  const error = await startLoader('tailcall', {
    progArrays: { JUMP: { 0: 'on_even', 1: 'kmatrix_no_such_program' } },
    attach: { dispatch: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { TAIL_EVENTS: 'TailEvent' },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LoaderError);
  const line = (error as LoaderError).line;
  expect(line.stage).toBe('parse');
  expect(line.message).toMatch(/no program named kmatrix_no_such_program in object \(has: .*on_odd/);
});
