import type { Catalog } from './catalog.ts';
import type { LockedKernel } from './lock.ts';
import { findMirrors, type Mirrors } from './mirror.ts';
import { lockLocalKernel, lockUrlKernel } from './own-kernel.ts';
import { resolveKernelLine } from './resolve.ts';

/**
 * Pins every catalog entry: a Debian line to the newest package of its
 * suite, a local build or a URL to the release and SHA256 of its files.
 * Names must be unique: they are what `KERNELS=` and the report use.
 */
export async function lockCatalog(
  catalog: Catalog,
  options: { catalogDir: string; lockDir: string; cacheRoot: string; onLocked?: (kernel: LockedKernel) => void },
): Promise<LockedKernel[]> {
  let mirrors: Mirrors | undefined;
  const kernels: LockedKernel[] = [];
  for (const entry of catalog.kernels) {
    let locked: LockedKernel;
    if ('image' in entry) locked = await lockLocalKernel(entry, options.catalogDir, options.lockDir);
    else if ('url' in entry) locked = await lockUrlKernel(entry, options.cacheRoot);
    else locked = await resolveKernelLine(entry, options.cacheRoot, (mirrors ??= await findMirrors()));
    const twin = kernels.find((k) => k.name === locked.name);
    if (twin) throw new Error(`two kernels of the catalog are named "${locked.name}" (${twin.release} and ${locked.release}): give one a \`name\``);
    kernels.push(locked);
    options.onLocked?.(locked);
  }
  return kernels;
}
