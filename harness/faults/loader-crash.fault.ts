// Fault: the loader crashes while the case waits for events: it gets
// SIGABRT in the guest, as a Rust panic with panic=abort would raise. The
// case must fail naming the signal, not wait out its deadline and not pass
// on the events that had arrived.
import { test, expect } from '../scenario/fixtures.ts';

test('the VM boots (so that the next case times the fault alone)', ({ vm }) => {
  expect(vm.bootMs).toBeGreaterThan(0);
});

test('the loader crashes mid-case', async ({ vm, startLoader }) => {
  const loader = await startLoader('exec', {
    attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { EXEC_EVENTS: 'ExecEvent' },
  });
  await vm.guest.exec('pkill -ABRT -x kmatrix-loader', { timeout: 10_000 });
  await loader.waitForEvents(() => false, 60_000, 'events that never come');
});
