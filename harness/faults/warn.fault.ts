// Fault: a WARN splat in the kernel log while a case runs, and the case
// itself does nothing wrong. The Debian cloud kernels have no lkdtm to
// trigger a real WARN on demand, so the splat is written into the kernel
// log through /dev/kmsg, at warning level, shaped like a real one: what the
// harness sees is exactly what a real WARN prints.
import { test, expect } from '../scenario/fixtures.ts';

const SPLAT = [
  '------------[ cut here ]------------',
  'WARNING: CPU: 0 PID: 1 at kernel/bpf/kmatrix_fault.c:1 kmatrix_injected_warn+0x0/0x10',
  'Modules linked in: veth',
  'Call Trace:',
  ' <TASK>',
  ' kmatrix_injected_warn+0x0/0x10',
  ' </TASK>',
  '---[ end trace 0000000000000000 ]---',
];

test('the VM boots (so that the next case times the fault alone)', ({ vm }) => {
  expect(vm.bootMs).toBeGreaterThan(0);
});

test('a kernel WARN during an otherwise passing case', async ({ vm }) => {
  const script = SPLAT.map((line) => `printf '<4>%s\\n' '${line}' > /dev/kmsg`).join('\n');
  const result = await vm.guest.exec('sh -s', { stdin: script, timeout: 30_000 });
  expect(result.code).toBe(0);
});
