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
  /** Of those, the ones whose cached copy was there but failed its SHA256 (truncated, corrupt). */
  corrupt: string[];
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
  const corrupt: string[] = [];
  for (const pkg of kernel.packages) {
    const result = await ensurePackage(pkg, cacheRoot, mirrors, onProgress);
    debs.push(result.path);
    if (result.downloaded) downloaded.push(pkg.package);
    if (result.corrupt) corrupt.push(pkg.package);
  }
  return { image: await unpackKernel(kernel, debs, cacheRoot), downloaded, corrupt };
}
