import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProjectInlineConfiguration } from 'vitest/config';
import type { ResolvedConfig } from '../config/load.ts';
import { readLock, selectKernels } from '../kernels/lock.ts';
import { vmCapacity } from '../pool/run-pool.ts';
import { KernelLanesSequencer } from '../pool/sequencer.ts';
import { newRunId, outDir } from '../util/paths.ts';
import { currentAttempt, retryFiles } from './retry.ts';

/** A module of the harness by path, as sources (.ts) here and as built JavaScript in the package. */
const harnessModule = (path: string) => fileURLToPath(new URL(`${path}${extname(import.meta.url)}`, import.meta.url));

/**
 * Run from kmatrix's sources (its own repository), `from 'kmatrix'` in a
 * scenario resolves to the sources of the public API; an installed package
 * resolves it through node_modules and needs nothing.
 */
export function sourceAliases(): { find: RegExp; replacement: string }[] {
  if (extname(import.meta.url) !== '.ts') return [];
  return [
    { find: /^kmatrix$/, replacement: harnessModule('../index') },
    { find: /^kmatrix\/config$/, replacement: harnessModule('../config/index') },
  ];
}

/** Runs kept under out/runs. */
const KEEP_RUNS = 10;

/**
 * The kernel matrix as vitest projects: one per locked kernel of the
 * project under test, each running every scenario file its config names
 * with that kernel injected. KERNELS=6.1,6.12 picks a subset. In the retry
 * pass (harness/scenario/retry.ts), only the kernels and files that failed,
 * each file on a VM booted for it.
 */
export async function kernelProjects(config: ResolvedConfig): Promise<TestProjectInlineConfiguration[]> {
  const kernels = selectKernels(await readLock(config.kernels.lock), process.env.KERNELS);
  const projects = kernels.map((kernel) => ({ kernel, retry: retryFiles(kernel.name) }));
  return projects.filter((p) => p.retry === undefined || p.retry.length > 0).map(({ kernel, retry }) => ({
    extends: true,
    test: {
      name: `kernel ${kernel.name}`,
      root: config.root,
      include: retry ?? config.scenarios,
      provide: { kernelName: kernel.name, freshVm: retry !== undefined },
      // A failed file is run again as a whole on a fresh VM (harness/run.ts),
      // never a case inside its file on the VM it failed on.
      retry: 0,
      globalSetup: [harnessModule('./global-setup')],
      // A file's first case may wait for its VM: another file's turn on
      // it, or a boot, which under TCG can take a minute on a busy host.
      testTimeout: 600_000,
      hookTimeout: 600_000,
      teardownTimeout: 60_000,
    },
  }));
}

/**
 * What every matrix run shares. One VM per kernel serves its files one
 * after another (harness/pool); as many files run at once as the host has
 * cores and memory for, or KMATRIX_MAX_VMS, and as many workers, each
 * holding one VM. The sequencer deals the kernels' files to that many
 * lanes, so that each VM's files come back to back. Also opens the run's
 * directory for console logs and reports (workers inherit its id) and
 * prunes old runs.
 */
export function matrixOptions(config: ResolvedConfig) {
  // The first pass and the retry pass of one run share its directory (harness/run.ts sets the id).
  process.env.KMATRIX_RUN_ID ??= newRunId();
  const runsDir = join(outDir(), 'runs');
  mkdirSync(runsDir, { recursive: true });
  const runs = readdirSync(runsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - KEEP_RUNS))) rmSync(join(runsDir, old), { recursive: true, force: true });
  return {
    // The VM's size in the config bounds how many fit in memory.
    maxWorkers: vmCapacity(config.vm),
    sequence: { sequencer: KernelLanesSequencer },
    reporters: ['default', harnessModule('../report/matrix-reporter')],
  };
}

/** Whether this vitest run is the retry pass: only the kernel projects' failed files run. */
export function isRetryPass(): boolean {
  return currentAttempt() === 'retry';
}
