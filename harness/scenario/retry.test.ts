import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { currentAttempt, readRetryPlan, retryFiles, retryPlanPath, type RetryPlan } from './retry.ts';
import { finalExitCode, retryDecision } from '../run.ts';
import { retriedCells } from '../report/matrix-reporter.ts';
import type { Attempt, Cell } from '../report/matrix.ts';

const plan: RetryPlan = {
  version: 1,
  cells: [
    { kernel: '6.1', scenario: 'exec', file: 'scenarios/exec.test.ts' },
    { kernel: '6.1', scenario: 'tcp', file: 'scenarios/tcp.test.ts' },
    { kernel: '6.12', scenario: 'exec', file: 'scenarios/exec.test.ts' },
  ],
  otherFailures: 0,
  interrupted: false,
};

let out: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  out = await mkdtemp(join(tmpdir(), 'kmatrix-retry-test-'));
  env = { KMATRIX_OUT: out, KMATRIX_RUN_ID: 'r1', KMATRIX_ATTEMPT: '2' };
});
afterEach(() => rm(out, { recursive: true, force: true }));

describe('the retry pass', () => {
  test('which pass a process is, from KMATRIX_ATTEMPT', () => {
    expect([currentAttempt({}), currentAttempt({ KMATRIX_ATTEMPT: '1' }), currentAttempt({ KMATRIX_ATTEMPT: '2' })]).toEqual(['single', 'first', 'retry']);
  });

  test('runs, per kernel, only the files that failed on it, from the plan in the run directory', async () => {
    await mkdir(dirname(retryPlanPath(env)), { recursive: true });
    await writeFile(retryPlanPath(env), JSON.stringify(plan));
    expect(retryPlanPath(env)).toBe(join(out, 'runs', 'r1', 'retry-plan.json'));
    expect(readRetryPlan(env)).toEqual(plan);
    expect(retryFiles('6.1', env)).toEqual(['scenarios/exec.test.ts', 'scenarios/tcp.test.ts']);
    expect(retryFiles('6.12', env)).toEqual(['scenarios/exec.test.ts']);
    expect(retryFiles('5.10', env), 'a kernel with no failure runs nothing').toEqual([]);
    expect(retryFiles('6.1', { ...env, KMATRIX_ATTEMPT: '1' }), 'outside the retry pass: every file').toBeUndefined();
  });

  test('without its plan the retry pass refuses to run, rather than run every file', () => {
    expect(() => retryFiles('6.1', env)).toThrow(/the retry pass has no plan at .*retry-plan\.json/);
  });
});

describe('the exit code of a retrying run', () => {
  test('retries the failed cells; an interrupted run or one without a plan is not retried', () => {
    expect(retryDecision(1, plan).cells).toHaveLength(3);
    expect(retryDecision(1, { ...plan, interrupted: true }).cells).toEqual([]);
    expect(retryDecision(1, undefined).cells).toEqual([]);
    expect(retryDecision(0, plan).cells).toEqual([]);
  });

  test('is the retry pass\'s, but a failure outside the cells fails the run whatever the retry says', () => {
    expect(finalExitCode(0, plan)).toBe(0);
    expect(finalExitCode(1, plan)).toBe(1);
    expect(finalExitCode(0, { ...plan, otherFailures: 2 })).toBe(1);
  });
});

describe('the final report of a retried run', () => {
  const failed = (scenario: string, kernel: string): Cell => ({
    scenario, kernel, status: 'fail', reason: `${scenario} broke`, durationMs: 5_000,
    attempts: [{ status: 'fail', reason: `${scenario} broke`, message: `${scenario} broke\n  at x.ts:1`, durationMs: 5_000, vm: `${kernel}#1` }],
  });
  const first: Cell[] = [failed('exec', '6.1'), failed('tcp', '6.1'), failed('exec', '6.12'), { scenario: 'logs', kernel: '6.1', status: 'pass', durationMs: 3_000 }];
  const ran = (cell: Cell, vm: string): { cell: Cell; attempt: Attempt } => ({
    cell, attempt: { status: cell.status === 'flaky' ? 'pass' : cell.status, ...(cell.reason ? { reason: cell.reason } : {}), durationMs: cell.durationMs, vm },
  });

  test('fail then pass is flaky, fail twice is fail, a retry that never ran stays failed; other cells as they were', () => {
    const cells = retriedCells(
      first,
      [ran({ scenario: 'exec', kernel: '6.1', status: 'pass', durationMs: 4_000 }, 'retry-6.1#1'), ran({ scenario: 'tcp', kernel: '6.1', status: 'fail', reason: 'tcp broke again', durationMs: 4_000 }, 'retry-6.1#2')],
      plan,
    );
    expect(cells.map((c) => `${c.scenario} ${c.kernel} ${c.status}`)).toEqual(['exec 6.1 flaky', 'tcp 6.1 fail', 'exec 6.12 fail', 'logs 6.1 pass']);
    expect(cells[0]!.attempts!.map((a) => `${a.status} ${a.vm}`)).toEqual(['fail 6.1#1', 'pass retry-6.1#1']);
    expect(cells[0]!.attempts![0]!.message).toBe('exec broke\n  at x.ts:1');
    expect(cells[1]!.reason).toBe('failed twice; 1st attempt: tcp broke; 2nd attempt, on a fresh VM: tcp broke again');
    expect(cells[2]!.reason).toBe('failed twice; 1st attempt: exec broke; 2nd attempt, on a fresh VM: the retry did not run');
    expect(cells[3]).toEqual(first[3]);
  });
});
