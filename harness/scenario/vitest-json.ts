import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { parseJsonFile } from '../util/json-file.ts';
import { packageRoot } from '../util/paths.ts';

/** The parts of vitest's JSON report that the fault and mutant runners read. */
export const VitestJsonReport = z.object({
  testResults: z.array(
    z.object({
      /** The test file's path. */
      name: z.string(),
      /** A file-level failure (its set-up threw), if any. */
      message: z.string().optional(),
      assertionResults: z.array(
        z.object({ title: z.string(), status: z.string(), failureMessages: z.array(z.string()), duration: z.number().nullish() }),
      ),
    }),
  ),
});
export type VitestJsonReport = z.infer<typeof VitestJsonReport>;

/**
 * Runs vitest in a child process with `args`, its JSON report written to
 * `jsonPath`, and returns the report. Cases are expected to fail (that is
 * what these runs look at), so vitest's exit code is not an error; a run that
 * wrote no report is.
 */
export async function runVitestForReport(options: { args: string[]; jsonPath: string; env: NodeJS.ProcessEnv; showOutput?: boolean }): Promise<VitestJsonReport> {
  const vitest = join(packageRoot, 'node_modules', 'vitest', 'vitest.mjs');
  await execa(process.execPath, [vitest, 'run', ...options.args], {
    cwd: packageRoot,
    reject: false,
    stdio: options.showOutput ? 'inherit' : 'pipe',
    env: options.env,
  });
  const text = await readFile(options.jsonPath, 'utf8').catch(() => {
    throw new Error(`vitest ${options.args.join(' ')} wrote no report to ${options.jsonPath}`);
  });
  return parseJsonFile(options.jsonPath, VitestJsonReport, text);
}

/** A failure message without colour codes. */
export function plainMessage(messages: string[]): string {
  return messages.join('\n').replace(/\x1b\[[0-9;]*m/g, '');
}
