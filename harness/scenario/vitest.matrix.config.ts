// The vitest config `kmatrix run` runs a project's scenarios with: the
// kernel matrix of the project in the current directory (or KMATRIX_ROOT).
import { defineConfig } from 'vitest/config';
import { loadConfig } from '../config/load.ts';
import { userRoot } from '../util/paths.ts';
import { kernelProjects, matrixOptions, sourceAliases } from './matrix-config.ts';

export default defineConfig(async () => {
  const config = await loadConfig(userRoot());
  return {
    root: userRoot(),
    resolve: { alias: sourceAliases() },
    test: { ...matrixOptions(config), projects: await kernelProjects(config) },
  };
});
