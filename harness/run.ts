import { createRequire } from 'node:module';
import { rm } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { newRunId, userRoot } from './util/paths.ts';
import { readRetryPlan, retryPlanPath, type RetryPlan } from './scenario/retry.ts';

/**
 * The main job: every scenario of the project in the current directory (or
 * KMATRIX_ROOT) on every selected kernel, through the vitest that kmatrix
 * depends on and its matrix config, each failed cell retried once on a
 * fresh VM (see runRetrying). The matrix reporter prints the table at the
 * end.
 */
export async function runMatrix(options: { kernels?: string; vitestArgs?: string[] }): Promise<number> {
  const config = fileURLToPath(new URL(`./scenario/vitest.matrix.config${extname(import.meta.url)}`, import.meta.url));
  return runRetrying(['--config', config, ...(options.vitestArgs ?? [])], {
    cwd: userRoot(),
    env: { KMATRIX_ROOT: userRoot(), ...(options.kernels ? { KERNELS: options.kernels } : {}) },
  });
}

/**
 * `vitest run ARGS`, then, when scenario files failed, a second `vitest
 * run` of only those files on only the kernels they failed on, each file on
 * a VM booted for it (harness/scenario/retry.ts). The matrix reporter of
 * the second run writes the final report: a cell that failed and then did
 * not is *flaky*, one that failed twice a failure with both messages.
 *
 * The exit code is 0 only when nothing failed, or every failure was a cell
 * whose retry passed and the config allows flaky cells (`gate: { flaky:
 * 'allow' }`, the release gate's setting too; the default, `'block'`, fails
 * the run). A failure outside the cells (a
 * unit test, an error of the run) is not retried and fails the run; an
 * interrupted run is not retried.
 */
export async function runRetrying(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<number> {
  const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
  // Both passes share the run's directory: its consoles, reports and plan.
  const env = { ...process.env, ...options.env, KMATRIX_RUN_ID: process.env.KMATRIX_RUN_ID ?? newRunId() };
  const pass = async (attempt: '1' | '2') =>
    (await execa(process.execPath, [vitest, 'run', ...args], { cwd: options.cwd, stdio: 'inherit', reject: false, env: { ...env, KMATRIX_ATTEMPT: attempt } })).exitCode ?? 1;
  await rm(retryPlanPath(env), { force: true });
  const first = await pass('1');
  if (first === 0) return 0;
  const plan = readRetryPlan(env);
  const retry = retryDecision(first, plan);
  if (retry.cells.length === 0) return first;
  console.log(`\nkmatrix: ${retry.cells.length} cell(s) failed; running each file once more, on a VM booted for it: ${retry.cells.map((c) => `${c.scenario} on ${c.kernel}`).join(', ')}\n`);
  const second = await pass('2');
  return finalExitCode(second, plan!);
}

/** What the first pass leaves to retry: its failed cells, unless it was interrupted or left no plan. */
export function retryDecision(firstExit: number, plan: RetryPlan | undefined): { cells: RetryPlan['cells'] } {
  if (firstExit === 0 || !plan || plan.interrupted) return { cells: [] };
  return { cells: plan.cells };
}

/**
 * The run's exit code after a retry: the retry pass's (its reporter fails
 * it on a cell failed twice, and on a flaky cell unless the config allows
 * them), and 1 whenever the first pass failed outside the cells.
 */
export function finalExitCode(retryExit: number, plan: RetryPlan): number {
  if (plan.otherFailures > 0) {
    console.log(`kmatrix: ${plan.otherFailures} failure(s) outside the matrix's cells (unit tests, errors of the run), not retried: the run fails`);
    return 1;
  }
  return retryExit;
}

// `node harness/run.ts [vitest args…]`: `vitest run` with the retry, in the
// current directory and its vitest config (npm test runs it so).
if (import.meta.main) {
  process.exit(await runRetrying(process.argv.slice(2), { cwd: process.cwd() }));
}
