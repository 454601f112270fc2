import { isDebianKernel, type LockedKernel } from './lock.ts';
import type { Mirrors } from './mirror.ts';
import { ensurePackage, type DownloadProgress } from './download.ts';
import { fetchLocalKernel, fetchUrlKernel } from './own-kernel.ts';
import { unpackKernel, type KernelImage } from './unpack.ts';

export { readCatalog } from './catalog.ts';
export { readLock, selectKernels, writeLock } from './lock.ts';
export { findMirrors } from './mirror.ts';
export type { KernelImage } from './unpack.ts';

export interface FetchResult {
  image: KernelImage;
  /** What was not in the cache (or failed its SHA256) and was downloaded. */
  downloaded: string[];
  /** Of those, the ones whose cached copy was there but failed its SHA256 (truncated, corrupt). */
  corrupt: string[];
}

/**
 * Makes one locked kernel bootable: verified packages or files, unpacked,
 * depmod'ed, cached. A local build's paths are relative to `lockDir`.
 */
export async function fetchKernel(
  kernel: LockedKernel,
  cacheRoot: string,
  mirrors: Mirrors,
  lockDir: string,
  onProgress?: DownloadProgress,
): Promise<FetchResult> {
  if (!isDebianKernel(kernel)) {
    if (kernel.source === 'local') return { image: await fetchLocalKernel(kernel, lockDir, cacheRoot), downloaded: [], corrupt: [] };
    return { ...(await fetchUrlKernel(kernel, cacheRoot)), corrupt: [] };
  }
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
