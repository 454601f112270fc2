import { describe, expect, test } from 'vitest';
import { interleave, planLanes } from './sequencer.ts';

const files = (k: string, n: number) => Array.from({ length: n }, (_, i) => `${k}${i + 1}`);

describe('planLanes', () => {
  test('five kernels on two lanes: equal lanes, the middle kernel split between the end of one and the start of the other', () => {
    const lanes = planLanes(['A', 'B', 'C', 'D', 'E'].map((k) => files(k, 4)), 2);
    expect(lanes).toEqual([
      ['A1', 'A2', 'A3', 'A4', 'B1', 'B2', 'B3', 'B4', 'C1', 'C3'],
      ['C2', 'C4', 'D1', 'D2', 'D3', 'D4', 'E1', 'E2', 'E3', 'E4'],
    ]);
    // C's two parts never run at once: one lane's C files come before the other's.
    const order = interleave(lanes);
    expect(Math.max(...['C2', 'C4'].map((f) => order.indexOf(f)))).toBeLessThan(Math.min(...['C1', 'C3'].map((f) => order.indexOf(f))));
  });

  test('kernels that fit stay whole: as many lanes as kernels give each its own', () => {
    expect(planLanes([files('A', 2), files('B', 2)], 2)).toEqual([files('A', 2), files('B', 2)]);
    // A kernel longer than a lane overlaps itself (the pool's second VM, when it has room).
    expect(planLanes([files('A', 3), files('B', 1)], 2)).toEqual([['A1', 'A3'], ['A2', 'B1']]);
  });

  test('one lane keeps the kernels in order, whole', () => {
    expect(planLanes([['A1', 'A2'], ['B1']], 1)).toEqual([['A1', 'A2', 'B1']]);
  });

  test('more lanes than files: no empty lanes', () => {
    expect(planLanes([['A1']], 4)).toEqual([['A1']]);
    expect(planLanes([], 2)).toEqual([]);
  });

  test('no lane is longer than its share, and every file is planned once', () => {
    for (const [counts, lanes] of [[[14, 14, 14, 14, 14], 2], [[14, 14, 14, 14, 14], 3], [[5, 9, 2, 7], 2], [[3, 3, 3], 4]] as const) {
      const kernels = counts.map((n, k) => files(String.fromCharCode(65 + k), n));
      const planned = planLanes(kernels, lanes);
      const total = counts.reduce((a, b) => a + b, 0);
      expect(planned.length).toBeLessThanOrEqual(lanes);
      for (const lane of planned) expect(lane.length).toBeLessThanOrEqual(Math.ceil(total / lanes));
      expect(planned.flat().sort()).toEqual(kernels.flat().sort());
    }
  });
});

describe('interleave', () => {
  test('takes the lanes in turn, then what the longer ones have left', () => {
    expect(interleave([['A1', 'A2'], ['B1', 'B2', 'B3'], ['C1']])).toEqual(['A1', 'B1', 'C1', 'A2', 'B2', 'B3']);
    expect(interleave([])).toEqual([]);
  });
});
