// Route B to portable struct reads from Rust: the loader resolves the offsets
// of task_struct.real_parent, .tgid and .static_prio in the running kernel's
// BTF and sets them as globals before load. Parent tgid and static priority
// must be right on every kernel, however task_struct is laid out there.
import { test, expect, annotateOffsets } from 'kmatrix';
import { OFFSET_GLOBALS, TASK_FIELDS, runTaskProgram } from './support/task-events.ts';

test('parent tgid and static priority, with offsets from the kernel\'s BTF', async ({ vm, startLoader, annotate }) => {
  const run = await runTaskProgram(vm.guest, startLoader, 'task_btf', { btfOffsets: OFFSET_GLOBALS });
  await annotateOffsets(annotate, run.offsets);
  expect(run.events).toMatchTruth(run.truth, { kernel: vm.kernel.name, source: 'RingBuf TASK_EVENTS (task_btf)', key: 'pid', fields: TASK_FIELDS });
});
