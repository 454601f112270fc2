// Route A to portable struct reads from Rust: small C accessors built by
// clang with __builtin_preserve_access_index, linked into the Rust object by
// bpf-linker. The object carries CO-RE relocations, and Aya's loader
// rewrites the field offsets against the running kernel's BTF at load time.
import { test, expect } from 'kmatrix';
import { TASK_FIELDS, runTaskProgram } from './support/task-events.ts';

test('parent tgid and static priority, through C accessors relocated by Aya (CO-RE)', async ({ vm, startLoader }) => {
  const run = await runTaskProgram(vm.guest, startLoader, 'task_core');
  expect(run.events).toMatchTruth(run.truth, { kernel: vm.kernel.name, source: 'RingBuf TASK_EVENTS (task_core)', key: 'pid', fields: TASK_FIELDS });
});
