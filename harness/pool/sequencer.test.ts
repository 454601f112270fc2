import { describe, expect, test } from 'vitest';
import { interleaveKernels } from './sequencer.ts';

describe('interleaveKernels', () => {
  test('pairs kernels on two lanes, then the next pair', () => {
    const files = (k: string, n: number) => Array.from({ length: n }, (_, i) => `${k}${i + 1}`);
    expect(interleaveKernels([files('A', 2), files('B', 3), files('C', 1)], 2)).toEqual(['A1', 'B1', 'A2', 'B2', 'B3', 'C1']);
  });

  test('one lane keeps each kernel whole', () => {
    expect(interleaveKernels([['A1', 'A2'], ['B1']], 1)).toEqual(['A1', 'A2', 'B1']);
  });

  test('no kernels, no files', () => {
    expect(interleaveKernels([], 2)).toEqual([]);
  });
});
