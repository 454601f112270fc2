// The common mistake, kept on purpose: offsets of task_struct fields copied
// from one kernel (6.1) into the program. It must read the right parent tgid
// and priority on kernels where task_struct is laid out as on 6.1, and the
// harness must catch it reading wrong values everywhere else. That catch is
// an expected failure only when it is exactly the expected one: the fields
// that came out wrong are those read through offsets that moved on this
// kernel (by its own BTF), and everything else matches the truth. Any other
// difference is a plain failure.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { test, expect, annotateExpectedFailure, diffAgainstTruth, describeDiff } from 'kmatrix';
import { TASK_FIELDS, runTaskProgram } from './support/task-events.ts';

/** Which event fields each offset feeds: the parent's tgid is read through real_parent, then tgid. */
const FIELDS_READ_AT: Record<string, string[]> = {
  'task_struct.real_parent': ['ppid'],
  'task_struct.tgid': ['ppid'],
  'task_struct.static_prio': ['static_prio'],
};

/** The offsets task_fixed has compiled in: its build reads the same file. */
const FixedOffsets = z.object({ kernel: z.string(), offsets: z.record(z.string(), z.number().int()) });
const fixedPath = join(import.meta.dirname, '..', 'ebpf-rs', 'programs', 'fixed-offsets.json');
const fixed = FixedOffsets.parse(JSON.parse(await readFile(fixedPath, 'utf8')));

test(`fixed ${fixed.kernel} offsets: right where the layout is the same, caught wrong elsewhere`, async ({ vm, startLoader, annotate }) => {
  const run = await runTaskProgram(vm.guest, startLoader, 'task_fixed');
  const kernel = vm.kernel.name;
  const source = 'RingBuf TASK_EVENTS (task_fixed)';
  for (const field of Object.keys(FIELDS_READ_AT)) {
    expect(run.offsets[field], `kernel ${kernel}: the loader reported no offset for ${field}`).toBeTypeOf('number');
    expect(fixed.offsets[field], `${fixedPath} has no offset for ${field}`).toBeTypeOf('number');
  }
  const moved = Object.keys(FIELDS_READ_AT).filter((f) => run.offsets[f] !== fixed.offsets[f]);
  if (moved.length === 0) {
    expect(run.events).toMatchTruth(run.truth, { kernel, source, key: 'pid', fields: TASK_FIELDS });
    return;
  }

  const expectedWrong = [...new Set(moved.flatMap((f) => FIELDS_READ_AT[f]!))].sort();
  const diff = diffAgainstTruth(run.events, run.truth, 'pid', TASK_FIELDS);
  const wrongByEvent = new Map<unknown, string[]>(run.truth.map((t) => [t.pid, []]));
  for (const m of diff.mismatches) wrongByEvent.get(m.key)!.push(m.field);
  const notAsExpected = [...wrongByEvent].filter(([, wrong]) => wrong.sort().join() !== expectedWrong.join());
  const movedText = moved.map((f) => `${f} at ${run.offsets[f]}, not ${fixed.offsets[f]}`).join('; ');
  expect(
    { missing: diff.missing.length, unexpected: diff.unexpected.length, duplicates: diff.duplicates.length, eventsNotWrongExactlyAsExpected: notAsExpected.length },
    `kernel ${kernel}: ${movedText} moved, so exactly ${expectedWrong.join(', ')} must be wrong in every event and all else right:\n${describeDiff(diff, 'pid')}`,
  ).toEqual({ missing: 0, unexpected: 0, duplicates: 0, eventsNotWrongExactlyAsExpected: 0 });
  await annotateExpectedFailure(annotate, `fixed ${fixed.kernel} offsets read wrong ${expectedWrong.join(', ')} here (${movedText}): caught, all else right`);
});
