// `kmatrix/config`: what a project's kmatrix.config.ts imports.
export { defineConfig, type KmatrixConfig, type EbpfSource, type UserspaceCrate } from './schema.ts';
