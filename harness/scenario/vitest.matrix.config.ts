// The vitest config `kmatrix run` runs a project's scenarios with: the
// kernel matrix of the project in the current directory (or KMATRIX_ROOT).
import { defineConfig } from 'vitest/config';
import { userRoot } from '../util/paths.ts';
import { kernelProjects, matrixOptions, sourceAliases } from './matrix-config.ts';

export default defineConfig(async () => ({
  root: userRoot(),
  resolve: { alias: sourceAliases() },
  test: { ...(await matrixOptions()), projects: await kernelProjects() },
}));
