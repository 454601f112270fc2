import { execa } from 'execa';
import { join } from 'node:path';
import { packageRoot } from './util/paths.ts';

/**
 * The main job: every scenario on every selected kernel, through vitest's
 * kernel projects (the unit tests are `npm test`'s business). The matrix
 * reporter prints the table at the end; the exit code is vitest's.
 */
export async function runMatrix(options: { kernels?: string }): Promise<number> {
  const vitest = join(packageRoot, 'node_modules', 'vitest', 'vitest.mjs');
  const result = await execa(process.execPath, [vitest, 'run', '--project', 'kernel *'], {
    cwd: packageRoot,
    stdio: 'inherit',
    reject: false,
    env: options.kernels ? { KERNELS: options.kernels } : {},
  });
  return result.exitCode ?? 1;
}
