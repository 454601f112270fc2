// Fault: a guest command that never ends. The call's deadline must fail the
// case, with the command killed in the guest (the guest scenario proves
// that nothing of it is left).
import { test, expect } from '../scenario/fixtures.ts';

test('the VM boots (so that the next case times the fault alone)', ({ vm }) => {
  expect(vm.bootMs).toBeGreaterThan(0);
});

test('a guest command that hangs past its deadline', async ({ vm }) => {
  await vm.guest.exec('echo waiting; sleep 600', { timeout: 5_000 });
});
