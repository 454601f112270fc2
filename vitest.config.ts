import { defineConfig } from 'vitest/config';
import { isRetryPass, kernelProjects, matrixOptions, sourceAliases } from './harness/scenario/matrix-config.ts';
import { loadConfig } from './harness/config/load.ts';
import { userRoot } from './harness/util/paths.ts';

// kmatrix's own tests: the harness's unit tests, and the kernel matrix of
// this repository's programs, the same matrix `kmatrix run` gives any
// project (harness/scenario/vitest.matrix.config.ts).
export default defineConfig(async () => {
  const config = await loadConfig(userRoot());
  return {
    // Scenarios import kmatrix's public API as users do (`from 'kmatrix'`);
    // here it resolves to the sources rather than the built package.
    resolve: { alias: sourceAliases() },
    test: {
      ...matrixOptions(config),
      // The retry pass (harness/run.ts) runs only the scenario files that failed.
      projects: [...(isRetryPass() ? [] : [{ extends: true, test: { name: 'unit', include: ['harness/**/*.test.ts'] } }]), ...(await kernelProjects(config))],
    },
  };
});
