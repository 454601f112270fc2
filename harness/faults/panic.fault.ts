// Fault: the kernel panics while a case runs. One guest command is in
// flight (a 60 s sleep) when another crashes the kernel through sysrq. The
// case must fail with the panic's own lines, within seconds, not pass and
// not wait for the sleep. It crashes its kernel on purpose, so it asks for a
// VM of its own rather than the suite's shared one.
import { testOnOwnVm as test, expect } from '../scenario/fixtures.ts';

test('the VM boots (so that the next case times the fault alone)', ({ vm }) => {
  expect(vm.bootMs).toBeGreaterThan(0);
});

test('a kernel panic in the middle of a case', async ({ vm }) => {
  const sleeping = vm.guest.exec('sleep 60', { timeout: 90_000 });
  await vm.guest.exec('sleep 1; echo c > /proc/sysrq-trigger', { timeout: 30_000 }).catch(() => {});
  await sleeping;
});
