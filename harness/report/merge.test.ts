import { describe, expect, test } from 'vitest';
import { MatrixReport, buildMatrix, type Cell } from './matrix.ts';
import { mergeMatrixReports, missingKernels } from './merge.ts';
import type { ProgramFigures } from './figures.ts';

const figures = (kernel: string, verifiedInsns: number): MatrixReport['figures'] => {
  const f: ProgramFigures = { object: 'exec', program: 'sched_process_exec', outcome: 'loaded', verifiedInsns, loads: 1, failures: 0, scenarios: ['exec'] };
  return { [kernel]: { 'exec/sched_process_exec': f } };
};

const cell = (kernel: string, status: Cell['status'] = 'pass'): Cell => ({ scenario: 'exec', kernel, status, durationMs: 1000 });

// What each CI kernel job uploads: its own matrix.json, one kernel in it.
const perKernel = (kernel: string, tgid: number, boot: number, insns: number) =>
  buildMatrix([cell(kernel)], [kernel], { [kernel]: { 'task_struct.tgid': tgid } }, { [kernel]: [boot] }, figures(kernel, insns));

describe('mergeMatrixReports', () => {
  test('keeps every kernel\'s offsets, boots and figures, in the lock\'s order', () => {
    const merged = mergeMatrixReports([perKernel('6.1', 2456, 7000, 120), perKernel('5.10', 2216, 5000, 110)], ['5.10', '6.1', '6.12']);
    expect(merged.kernels).toEqual(['5.10', '6.1']);
    expect(merged.offsets).toEqual({ '5.10': { 'task_struct.tgid': 2216 }, '6.1': { 'task_struct.tgid': 2456 } });
    expect(merged.boots).toEqual({ '5.10': [5000], '6.1': [7000] });
    expect(merged.figures['5.10']?.['exec/sched_process_exec']?.verifiedInsns).toBe(110);
    expect(merged.figures['6.1']?.['exec/sched_process_exec']?.verifiedInsns).toBe(120);
    expect(merged.summary).toMatchObject({ pass: 2, fail: 0, skip: 0, xfail: 0 });
    expect(MatrixReport.parse(merged)).toEqual(merged);
  });

  test('two runs of one kernel: boots add up, offsets are one set', () => {
    const merged = mergeMatrixReports([perKernel('6.1', 2456, 7000, 120), perKernel('6.1', 2456, 6500, 120)], ['6.1']);
    expect(merged.boots).toEqual({ '6.1': [7000, 6500] });
    expect(merged.offsets).toEqual({ '6.1': { 'task_struct.tgid': 2456 } });
  });
});

describe('missingKernels', () => {
  test('names each expected kernel that has no cell at all', () => {
    const merged = mergeMatrixReports([perKernel('6.1', 2456, 7000, 120)], ['5.10', '6.1', '6.12']);
    expect(missingKernels(merged, ['5.10', '6.1', '6.12'])).toEqual(['5.10', '6.12']);
    expect(missingKernels(merged, ['6.1'])).toEqual([]);
  });

  test('a kernel whose every cell failed is not missing: it reported', () => {
    expect(missingKernels(buildMatrix([cell('6.1', 'fail')], ['6.1']), ['6.1'])).toEqual([]);
  });
});
