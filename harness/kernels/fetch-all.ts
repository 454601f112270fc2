import { isDebianKernel, type LockedKernel } from './lock.ts';
import { checkKernelConfigFile } from './kernel-config.ts';
import { findMirrors } from './mirror.ts';
import { fetchKernel } from './index.ts';
import type { KernelImage } from './unpack.ts';
import { cacheDir } from '../util/paths.ts';

/**
 * Fetches several kernels, printing one line per package: progress on a
 * terminal, quiet lines (start, done) otherwise, so CI logs stay short.
 * A kernel whose config lacks what the VM or BPF needs stops here, before
 * any boot, with what is missing; one without what some programs need
 * (BTF, say) is reported and kept. `lockDir`: the lock's directory, which
 * a local build's paths are relative to.
 */
export async function fetchKernels(kernels: LockedKernel[], lockDir: string, log: (line: string) => void = console.error): Promise<Map<string, KernelImage>> {
  const mirrors = await findMirrors();
  const images = new Map<string, KernelImage>();
  const tty = process.stderr.isTTY;
  for (const kernel of kernels) {
    const started = performance.now();
    let lastShown = 0;
    const { image, downloaded, corrupt } = await fetchKernel(kernel, cacheDir(), mirrors, lockDir, ({ pkg, received, done }) => {
      if (done) {
        if (tty) process.stderr.write('\r\x1b[2K');
        log(`  ${kernel.name}: fetched ${pkg.package} (${(pkg.size / 1e6).toFixed(1)} MB, SHA256 verified)`);
      } else if (tty && performance.now() - lastShown > 100) {
        lastShown = performance.now();
        process.stderr.write(`\r\x1b[2K  ${kernel.name}: ${pkg.package} ${Math.floor((100 * received) / pkg.size)}%`);
      }
    });
    for (const pkg of corrupt) log(`  ${kernel.name}: the cached ${pkg} failed its SHA256 (truncated or corrupt) and was fetched again`);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    log(`kernel ${kernel.name}: ${image.release} ${downloaded.length ? `ready in ${seconds} s` : 'cached'}`);
    if (image.config) {
      const hasModules = isDebianKernel(kernel) || kernel.modules !== undefined;
      for (const warning of await checkKernelConfigFile(kernel.name, image.config, hasModules)) log(`kernel ${kernel.name}: lacks ${warning}`);
    } else if (!isDebianKernel(kernel)) {
      log(`kernel ${kernel.name}: no .config came with it, so what it lacks shows only at boot (give \`config\` in the catalog to check it first)`);
    }
    images.set(kernel.name, image);
  }
  return images;
}
