import type { BootRecord, LeaseRecord } from '../pool/broker.ts';

export interface PoolSummary {
  boots: number;
  files: number;
  bootsPerKernel: Record<string, number>;
  medianBootMs: number;
  medianResetMs: number;
  /** Files after which the VM was stopped, with why. */
  broken: { file: string; kernel: string; why: string }[];
  /** What each kernel's guest found missing at boot (no BTF, say). */
  kernelNotes: Record<string, string[]>;
  line: string;
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);

/** The run's VM pool in one line: how many boots served how many files, and what it cost. */
export function summarizePool(boots: BootRecord[], leases: LeaseRecord[]): PoolSummary {
  const bootsPerKernel: Record<string, number> = {};
  for (const boot of boots) bootsPerKernel[boot.kernel] = (bootsPerKernel[boot.kernel] ?? 0) + 1;
  const broken = leases.filter((l) => l.broken).map((l) => ({ file: l.file, kernel: l.kernel, why: l.broken!.split('\n')[0]! }));
  const medianBootMs = median(boots.map((b) => b.bootMs));
  const medianResetMs = median(leases.map((l) => l.resetMs));
  const kernelNotes: Record<string, string[]> = {};
  for (const boot of boots) for (const note of boot.notes) if (!kernelNotes[boot.kernel]?.includes(note)) (kernelNotes[boot.kernel] ??= []).push(note);
  const perKernel = Object.entries(bootsPerKernel).map(([kernel, n]) => `${kernel} ${n}`).join(', ');
  const line =
    `VMs: ${boots.length} boot${boots.length === 1 ? '' : 's'} for ${leases.length} file${leases.length === 1 ? '' : 's'} (${perKernel}); ` +
    `boot median ${(medianBootMs / 1000).toFixed(1)} s, reset between files median ${medianResetMs} ms` +
    (broken.length ? `; ${broken.length} VM${broken.length === 1 ? '' : 's'} replaced after a file broke it (${broken.map((b) => `${b.kernel} ${b.file}`).join(', ')})` : '') +
    Object.entries(kernelNotes).map(([kernel, notes]) => `\nkernel ${kernel}: ${notes.join('; ')}`).join('');
  return { boots: boots.length, files: leases.length, bootsPerKernel, medianBootMs, medianResetMs, broken, kernelNotes, line };
}
