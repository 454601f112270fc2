import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import { readLock, selectKernels } from './harness/kernels/lock.ts';
import { loadConfig } from './harness/config/load.ts';
import { newRunId, outDir, userRoot } from './harness/util/paths.ts';
import { vmCapacity } from './harness/pool/run-pool.ts';
import { KernelLanesSequencer } from './harness/pool/sequencer.ts';

// The kernel matrix: one vitest project per locked kernel, each running every
// scenario file of the project's config with that kernel injected.
// KERNELS=6.1,6.12 picks a subset.
const config = await loadConfig(userRoot());
const kernels = selectKernels(await readLock(config.kernels.lock), process.env.KERNELS);

// One directory per run for console logs and reports (workers inherit the
// variable); only the newest runs are kept.
process.env.KMATRIX_RUN_ID ??= newRunId();
const KEEP_RUNS = 10;
const runsDir = join(outDir(), 'runs');
mkdirSync(runsDir, { recursive: true });
const oldRuns = readdirSync(runsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
for (const old of oldRuns.slice(0, Math.max(0, oldRuns.length - KEEP_RUNS))) rmSync(join(runsDir, old), { recursive: true, force: true });

// One VM per kernel serves its files one after another (harness/pool); as
// many VMs run at once as the host has cores and memory for, or
// KMATRIX_MAX_VMS, and as many workers, each holding one VM. The sequencer
// interleaves the kernels' files so that each VM's files come back to back.
export default defineConfig({
  // Scenarios import kmatrix's public API as users do (`from 'kmatrix'`);
  // here it resolves to the sources rather than the built package.
  resolve: { alias: [{ find: /^kmatrix$/, replacement: join(import.meta.dirname, 'harness', 'index.ts') }] },
  test: {
    maxWorkers: vmCapacity(),
    sequence: { sequencer: KernelLanesSequencer },
    reporters: ['default', './harness/report/matrix-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['harness/**/*.test.ts'] },
      },
      ...kernels.map((kernel) => ({
        extends: true,
        test: {
          name: `kernel ${kernel.name}`,
          include: config.scenarios,
          provide: { kernelName: kernel.name },
          globalSetup: ['./harness/scenario/global-setup.ts'],
          // A file's first case may wait for its VM: another file's turn on
          // it, or a boot, which under TCG can take a minute on a busy host.
          testTimeout: 600_000,
          hookTimeout: 600_000,
          teardownTimeout: 60_000,
        },
      })),
    ],
  },
});
