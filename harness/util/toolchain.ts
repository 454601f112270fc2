import { join } from 'node:path';
import { cacheDir, packageRoot } from './paths.ts';

/**
 * PATH for every tool the harness runs. Tools that set-up builds from source
 * (bpf-linker, virtiofsd) live under the cache, virtme-ng in the project's
 * virtualenv. Which cargo builds the eBPF crate is the build module's choice.
 */
export function toolPath(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [
    join(cacheDir(env), 'tools', 'bin'),
    join(packageRoot, '.venv', 'bin'),
  ];
  return [...dirs, env.PATH ?? '/usr/local/bin:/usr/bin:/bin', '/usr/sbin', '/sbin'].join(':');
}

/** The environment for child processes: the tool PATH, and nothing else changed. */
export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: toolPath(env) };
}
