import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where kmatrix itself is: its harness, the loader's sources, the guest's
 * boot stand-ins. In a project that installed it, somewhere under
 * node_modules; in kmatrix's own repository, the repository.
 */
export const packageRoot = packageRootOf(fileURLToPath(new URL('../..', import.meta.url)));

/** The harness runs from its sources (`harness/`) or from the built `dist/harness/`. */
function packageRootOf(harnessParent: string): string {
  return basename(harnessParent) === 'dist' ? dirname(harnessParent) : resolve(harnessParent);
}

/**
 * The project under test: where its kmatrix.config.ts, eBPF crates,
 * scenarios and kernel lock are. The directory kmatrix runs in, or
 * `KMATRIX_ROOT`.
 */
export function userRoot(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.KMATRIX_ROOT ?? process.cwd());
}

/**
 * The one cache directory: kernels, isolated apt state, tools built from source,
 * the SSH identity. `KMATRIX_CACHE` overrides it (CI points it at a cached path).
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KMATRIX_CACHE) return resolve(env.KMATRIX_CACHE);
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'kmatrix');
}

/** Where run artifacts (console logs, reports) go. `KMATRIX_OUT` overrides it. */
export function outDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KMATRIX_OUT ? resolve(env.KMATRIX_OUT) : join(userRoot(env), 'out');
}

/**
 * This run's own directory under out/runs, so that two runs at once never
 * write the same console log. vitest.config.ts sets KMATRIX_RUN_ID before the
 * workers start, so they all agree on it.
 */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(outDir(env), 'runs', env.KMATRIX_RUN_ID ?? `pid-${process.pid}`);
}

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
}
