// The common mistake, kept on purpose: offsets of task_struct fields copied
// from one kernel (6.1) into the program. It must read the right parent tgid
// and priority on kernels where task_struct is laid out as on 6.1, and the
// harness must catch it reading wrong values everywhere else. That catch is
// the expected outcome, reported as such.
import { test, expect } from '../harness/scenario/fixtures.ts';
import { annotateExpectedFailure } from '../harness/report/annotations.ts';
import { diffAgainstTruth, describeDiff, isClean } from '../harness/expect/truth.ts';
import { OFFSET_GLOBALS, TASK_FIELDS, runTaskProgram } from './support/task-events.ts';

/** What ebpf-rs/programs/src/bin/task_fixed.rs has compiled in: 6.1.0-56-cloud-amd64's layout. */
const OFFSETS_OF_6_1: Record<string, number> = {
  'task_struct.real_parent': 2432,
  'task_struct.tgid': 2420,
  'task_struct.static_prio': 112,
};

test('fixed 6.1 offsets: right where the layout is 6.1\'s, caught wrong elsewhere', async ({ vm, startLoader, annotate }) => {
  const run = await runTaskProgram(vm.guest, startLoader, 'task_fixed');
  const fields = Object.values(OFFSET_GLOBALS);
  const differing = fields.filter((f) => run.offsets[f] !== OFFSETS_OF_6_1[f]);
  if (differing.length === 0) {
    expect(run.events).toMatchTruth(run.truth, { kernel: vm.kernel.name, source: 'RingBuf TASK_EVENTS (task_fixed)', key: 'pid', fields: TASK_FIELDS });
    return;
  }
  const diff = diffAgainstTruth(run.events, run.truth, 'pid', TASK_FIELDS);
  expect(isClean(diff), `kernel ${vm.kernel.name}: fixed 6.1 offsets read the right values although ${differing.join(', ')} moved`).toBe(false);
  const wrongFields = [...new Set(diff.mismatches.map((m) => m.field))];
  expect(wrongFields.length, describeDiff(diff, 'pid')).toBeGreaterThan(0);
  await annotateExpectedFailure(
    annotate,
    `fixed 6.1 offsets read wrong ${wrongFields.join(', ')} here (${differing.map((f) => `${f} at ${run.offsets[f]}, not ${OFFSETS_OF_6_1[f]}`).join('; ')}): caught`,
  );
});
