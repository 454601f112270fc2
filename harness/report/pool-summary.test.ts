import { expect, test } from 'vitest';
import { summarizePool } from './pool-summary.ts';

test("the pool's line repeats, once per kernel, what its guests found missing at boot", () => {
  const note = 'no BTF (/sys/kernel/btf/vmlinux): fentry/fexit, LSM and BTF tracepoint programs cannot load';
  const summary = summarizePool(
    [
      { kernel: '6.1', vmId: '6.1#1', bootMs: 5000, notes: [], why: 'first' },
      { kernel: 'mine', vmId: 'mine#1', bootMs: 6000, notes: [note], why: 'first' },
      { kernel: 'mine', vmId: 'mine#2', bootMs: 7000, notes: [note], why: 'replacement' },
    ],
    [],
  );
  expect(summary.kernelNotes).toEqual({ mine: [note] });
  expect(summary.line).toBe(`VMs: 3 boots for 0 files (6.1 1, mine 2); boot median 6.0 s, reset between files median 0 ms\nkernel mine: ${note}`);
});
