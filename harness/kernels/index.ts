import type { LockedKernel } from './lock.ts';
import type { Mirrors } from './mirror.ts';
import { ensurePackage, type DownloadProgress } from './download.ts';
import { unpackKernel, type KernelImage } from './unpack.ts';

export { readCatalog } from './catalog.ts';
export { readLock, selectKernels, writeLock } from './lock.ts';
export { findMirrors } from './mirror.ts';
export type { KernelImage } from './unpack.ts';

export interface FetchResult {
  image: KernelImage;
  /** Packages that were not in the cache (or failed their SHA256) and were downloaded. */
  downloaded: string[];
}

/** Makes one locked kernel bootable: verified packages, unpacked, depmod'ed, cached. */
export async function fetchKernel(
  kernel: LockedKernel,
  cacheRoot: string,
  mirrors: Mirrors,
  onProgress?: DownloadProgress,
): Promise<FetchResult> {
  const debs: string[] = [];
  const downloaded: string[] = [];
  for (const pkg of kernel.packages) {
    const { path, downloaded: fresh } = await ensurePackage(pkg, cacheRoot, mirrors, onProgress);
    debs.push(path);
    if (fresh) downloaded.push(pkg.package);
  }
  return { image: await unpackKernel(kernel, debs, cacheRoot), downloaded };
}
