import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { planFiles, vmCapacity } from './run-pool.ts';

/**
 * Orders the run's files so that each VM serves one kernel's files back to
 * back: the kernels are taken `capacity` at a time (as many as there can be
 * VMs), and their files interleaved, so that each free worker picks up the
 * next file of a kernel whose VM is free. Files of other projects (unit
 * tests) come first. Tells the pool how many files each kernel has, so it
 * knows when a kernel's VM can go.
 */
export class KernelLanesSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const byKernel = new Map<string, TestSpecification[]>();
    const others: TestSpecification[] = [];
    for (const spec of sorted) {
      const kernel = (spec.project.config.provide as { kernelName?: string } | undefined)?.kernelName;
      if (!kernel) others.push(spec);
      else byKernel.set(kernel, [...(byKernel.get(kernel) ?? []), spec]);
    }
    planFiles(new Map([...byKernel].map(([kernel, specs]) => [kernel, specs.length])));
    return [...others, ...interleaveKernels([...byKernel.values()], vmCapacity())];
  }
}

/**
 * The kernels' files, `lanes` kernels at a time, interleaved: with two
 * lanes, A1 B1 A2 B2 … then C1 D1 C2 D2 …, so that two workers each keep
 * to one kernel while both have files left.
 */
export function interleaveKernels<T>(kernels: T[][], lanes: number): T[] {
  const ordered: T[] = [];
  for (let group = 0; group < kernels.length; group += lanes) {
    const together = kernels.slice(group, group + lanes);
    const longest = Math.max(...together.map((files) => files.length));
    for (let i = 0; i < longest; i++) for (const files of together) if (i < files.length) ordered.push(files[i]!);
  }
  return ordered;
}
