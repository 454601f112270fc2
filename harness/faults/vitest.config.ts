import { defineConfig } from 'vitest/config';
import { packageRoot } from '../util/paths.ts';
import { KernelLanesSequencer } from '../pool/sequencer.ts';

// The fault suite: scenario files that must fail, run on one kernel by
// harness/faults/run.ts, which checks how each failed. Not part of the
// scenario matrix (its report would count them as failures).
const kernel = process.env.KMATRIX_FAULT_KERNEL ?? '6.1';

export default defineConfig({
  test: {
    root: packageRoot,
    maxWorkers: 2,
    sequence: { sequencer: KernelLanesSequencer },
    teardownTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: process.env.KMATRIX_FAULTS_JSON ?? 'out/faults.json' }]],
    projects: [
      {
        test: {
          name: `faults on ${kernel}`,
          root: packageRoot,
          include: ['harness/faults/*.fault.ts'],
          provide: { kernelName: kernel },
          globalSetup: ['./harness/scenario/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // Every fault case must fail, once, in its time: never retried
          // (harness/run.ts's retry of failed scenario files is not used here either).
          retry: 0,
        },
      },
    ],
  },
});
