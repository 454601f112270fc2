import { join } from 'node:path';
import { cacheDir } from './paths.ts';

/**
 * PATH for every tool the harness runs. Tools that set-up builds from source
 * (bpf-linker, virtiofsd) live under the cache, and so does virtme-ng's
 * virtualenv (harness/bin/setup). Which cargo builds the eBPF crate is the build module's choice.
 */
export function toolPath(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [
    join(cacheDir(env), 'tools', 'bin'),
    join(cacheDir(env), 'virtme-ng', 'bin'),
  ];
  return [...dirs, env.PATH ?? '/usr/local/bin:/usr/bin:/bin', '/usr/sbin', '/sbin'].join(':');
}

/** The environment for child processes: the tool PATH, and nothing else changed. */
export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: toolPath(env) };
}
