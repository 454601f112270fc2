import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { userRoot } from './util/paths.ts';

/**
 * The main job: every scenario of the project in the current directory (or
 * KMATRIX_ROOT) on every selected kernel, through the vitest that kmatrix
 * depends on and its matrix config. The matrix reporter prints the table at
 * the end; the exit code is vitest's.
 */
export async function runMatrix(options: { kernels?: string; vitestArgs?: string[] }): Promise<number> {
  const vitestDir = dirname(createRequire(import.meta.url).resolve('vitest/package.json'));
  const config = fileURLToPath(new URL(`./scenario/vitest.matrix.config${extname(import.meta.url)}`, import.meta.url));
  const result = await execa(process.execPath, [join(vitestDir, 'vitest.mjs'), 'run', '--config', config, ...(options.vitestArgs ?? [])], {
    cwd: userRoot(),
    stdio: 'inherit',
    reject: false,
    env: { KMATRIX_ROOT: userRoot(), ...(options.kernels ? { KERNELS: options.kernels } : {}) },
  });
  return result.exitCode ?? 1;
}
