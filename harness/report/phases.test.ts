import { describe, expect, test } from 'vitest';
import { casePhases, describePhases } from './phases.ts';

describe('casePhases', () => {
  test('splits a case at its loader session’s moments', () => {
    const phases = casePhases(0, 10_000, [{ startedAt: 100, readyAt: 2_600, attachMs: 300, stopCalledAt: 7_600, stoppedAt: 8_600 }]);
    expect(phases).toEqual({ vmWait: 0, loadVerify: 2_200, attach: 300, traffic: 5_000, drain: 1_000, checks: 1_400, other: 100, reset: 0 });
    expect(Object.values(phases).reduce((a, b) => a + b)).toBe(10_000);
    expect(describePhases(phases)).toBe('traffic 5.0 s, load/verify 2.2 s, checks 1.4 s, drain 1.0 s, attach 0.3 s, other 0.1 s');
  });

  test('a session never stopped (the case failed) counts as traffic up to the end', () => {
    expect(casePhases(0, 5_000, [{ startedAt: 0, readyAt: 2_000 }])).toMatchObject({ traffic: 3_000, drain: 0, checks: 0 });
  });
});
