import { defineConfig } from 'vitest/config';
import { isRetryPass, kernelProjects, matrixOptions, sourceAliases } from './harness/scenario/matrix-config.ts';

// kmatrix's own tests: the harness's unit tests, and the kernel matrix of
// this repository's programs, the same matrix `kmatrix run` gives any
// project (harness/scenario/vitest.matrix.config.ts).
export default defineConfig(async () => ({
  // Scenarios import kmatrix's public API as users do (`from 'kmatrix'`);
  // here it resolves to the sources rather than the built package.
  resolve: { alias: sourceAliases() },
  test: {
    ...(await matrixOptions()),
    // The retry pass (harness/run.ts) runs only the scenario files that failed.
    projects: [...(isRetryPass() ? [] : [{ extends: true, test: { name: 'unit', include: ['harness/**/*.test.ts'] } }]), ...(await kernelProjects())],
  },
}));
