import type { LockedKernel } from './lock.ts';
import { findMirrors } from './mirror.ts';
import { fetchKernel } from './index.ts';
import type { KernelImage } from './unpack.ts';
import { cacheDir } from '../util/paths.ts';

/**
 * Fetches several kernels, printing one line per package: progress on a
 * terminal, quiet lines (start, done) otherwise, so CI logs stay short.
 */
export async function fetchKernels(kernels: LockedKernel[], log: (line: string) => void = console.error): Promise<Map<string, KernelImage>> {
  const mirrors = await findMirrors();
  const images = new Map<string, KernelImage>();
  const tty = process.stderr.isTTY;
  for (const kernel of kernels) {
    const started = performance.now();
    let lastShown = 0;
    const { image, downloaded, corrupt } = await fetchKernel(kernel, cacheDir(), mirrors, ({ pkg, received, done }) => {
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
    images.set(kernel.name, image);
  }
  return images;
}
