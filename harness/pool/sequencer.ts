import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { planFiles } from './run-pool.ts';

/**
 * Orders the run's files so that each worker serves one kernel's files back
 * to back and the workers finish together: the kernels are dealt to as
 * many lanes as vitest has workers by {@link planLanes}, and
 * the lanes interleaved, so that each free worker picks up the next file of
 * its lane. Files of other projects (unit tests) come first. Tells the pool
 * how many files each kernel has, so it knows when a kernel's VM can go.
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
    return [...others, ...interleave(planLanes([...byKernel.values()], this.ctx.config.maxWorkers))];
  }
}

/**
 * Deals the kernels' files to `lanes` lanes of equal length (McNaughton's
 * wrap-around rule): the kernels fill one lane after another, and a kernel
 * that does not fit in what is left of a lane goes on at the start of the
 * next. Its files there run while the previous lane is still on earlier
 * kernels, so one VM serves both parts, idle in between, rather than a
 * lane standing idle at the end while the last kernel runs alone. The
 * split kernel's files are dealt alternately, so that each part gets long
 * and short files alike (vitest sorts them longest first).
 *
 * A kernel with more files than a lane holds overlaps itself; the pool
 * then runs it on a second VM when it has room, else one part waits.
 */
export function planLanes<T>(kernels: T[][], lanes: number): T[][] {
  const total = kernels.reduce((sum, files) => sum + files.length, 0);
  const length = Math.ceil(total / Math.max(1, lanes));
  const planned: T[][] = [[]];
  for (const files of kernels) {
    let current = planned.at(-1)!;
    const room = length - current.length;
    if (files.length <= room || planned.length === lanes) {
      current.push(...files);
      continue;
    }
    // Alternate files between this lane's end and the next lane's start.
    const here: T[] = [];
    const next: T[] = [];
    files.forEach((file, i) => ((i % 2 === 0 && here.length < room) || next.length >= files.length - room ? here : next).push(file));
    current.push(...here);
    current = [...next];
    planned.push(current);
  }
  return planned.filter((lane) => lane.length);
}

/** The lanes' files in turn: A1 B1 A2 B2 …, so that each of the workers keeps to one lane. */
export function interleave<T>(lanes: T[][]): T[] {
  const ordered: T[] = [];
  const longest = Math.max(0, ...lanes.map((files) => files.length));
  for (let i = 0; i < longest; i++) for (const files of lanes) if (i < files.length) ordered.push(files[i]!);
  return ordered;
}
