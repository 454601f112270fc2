// A failed cell (a scenario file on a kernel) is run once more, in a second
// vitest run of only those files, each on a VM booted for it: fail, then
// pass, is *flaky*, never a pass. harness/run.ts runs the two passes; this
// module is what they share: which pass this process is, and the plan the
// first pass leaves for the second.
//
// Why a second run and not vitest's `retry`: vitest retries a case inside
// its file, with the file's fixtures kept, so the retry would run on the
// VM the failure happened on (the `vm` fixture is file-scoped); a failure
// outside any case (the VM left broken after the file) is never retried;
// and a case that passes on a retry is reported as passed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { parseJsonFile } from '../util/json-file.ts';
import { runDir } from '../util/paths.ts';

/**
 * `KMATRIX_ATTEMPT`: unset for a plain vitest run (no retry: a failure is a
 * failure); `1` for the first pass of a run that retries (harness/run.ts);
 * `2` for the retry pass.
 */
export type Attempt = 'single' | 'first' | 'retry';

export function currentAttempt(env: NodeJS.ProcessEnv = process.env): Attempt {
  return env.KMATRIX_ATTEMPT === '2' ? 'retry' : env.KMATRIX_ATTEMPT === '1' ? 'first' : 'single';
}

export const RetryPlan = z.strictObject({
  version: z.literal(1),
  /** The failed cells, each file relative to the project's root. */
  cells: z.array(z.strictObject({ kernel: z.string(), scenario: z.string(), file: z.string() })),
  /** Failures the retry does not cover (unit tests, errors outside any file): the run fails whatever the retry says. */
  otherFailures: z.number().int(),
  /** The run was interrupted: nothing is retried. */
  interrupted: z.boolean(),
});
export type RetryPlan = z.infer<typeof RetryPlan>;

/** Where the first pass leaves its plan and its own report, in the run's directory. */
export function retryPlanPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(runDir(env), 'retry-plan.json');
}

export function firstAttemptDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(runDir(env), 'attempt-1');
}

export function readRetryPlan(env: NodeJS.ProcessEnv = process.env): RetryPlan | undefined {
  const path = retryPlanPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return parseJsonFile(path, RetryPlan, text);
}

/** In the retry pass: the files of `kernel` to run again (relative to the root); undefined in any other pass. */
export function retryFiles(kernel: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (currentAttempt(env) !== 'retry') return undefined;
  const plan = readRetryPlan(env);
  if (!plan) throw new Error(`the retry pass has no plan at ${retryPlanPath(env)}`);
  return plan.cells.filter((c) => c.kernel === kernel).map((c) => c.file);
}
