import { readFile, writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { parseJsonFile } from '../util/json-file.ts';

/** One .deb as resolved from the archive: enough to fetch and verify it without apt. */
export const LockedPackage = z.strictObject({
  package: z.string(),
  version: z.string(),
  /** The archive below the mirror: "debian" or "debian-security". */
  archive: z.enum(['debian', 'debian-security']),
  /** Path inside the archive, as in the Packages index ("pool/main/l/linux/…deb"). */
  filename: z.string().regex(/^pool\/.+\.deb$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
});
export type LockedPackage = z.infer<typeof LockedPackage>;

/** A catalog line resolved to exact packages: tests and CI use only this. */
export const LockedDebianKernel = z.strictObject({
  name: z.string(),
  line: z.string(),
  suite: z.string(),
  flavour: z.string(),
  arch: z.enum(['amd64', 'arm64']),
  /** `uname -r` of the kernel, e.g. "6.1.0-56-cloud-amd64". */
  release: z.string().min(1),
  /** The image package first; a split layout adds the modules package. */
  packages: z.array(LockedPackage).min(1),
});
export type LockedDebianKernel = z.infer<typeof LockedDebianKernel>;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A file as it was when the lock was written. */
const PinnedFile = z.strictObject({ sha256, size: z.number().int().nonnegative() });

/**
 * A local build as it was when `kmatrix kernels update` ran: a run refuses
 * an image or modules that changed since, rather than test something else
 * than the lock says.
 */
export const LockedLocalKernel = z.strictObject({
  name: z.string(),
  source: z.literal('local'),
  /** `uname -r`, read from the image's header. */
  release: z.string().min(1),
  image: PinnedFile.extend({ path: z.string() }),
  /** The `lib/modules/<release>` dir; its SHA256 covers every file's path and content (symlinks such as `build` left out). */
  modules: PinnedFile.extend({ path: z.string(), files: z.number().int().nonnegative() }).optional(),
  config: PinnedFile.extend({ path: z.string() }).optional(),
});
export type LockedLocalKernel = z.infer<typeof LockedLocalKernel>;

/** A kernel at a URL, with the release its image said it is. */
export const LockedUrlKernel = z.strictObject({
  name: z.string(),
  source: z.literal('url'),
  release: z.string().min(1),
  image: PinnedFile.extend({ url: z.string() }),
  modules: PinnedFile.extend({ url: z.string() }).optional(),
  config: PinnedFile.extend({ url: z.string() }).optional(),
});
export type LockedUrlKernel = z.infer<typeof LockedUrlKernel>;

export const LockedKernel = z.union([LockedDebianKernel, LockedLocalKernel, LockedUrlKernel]);
export type LockedKernel = z.infer<typeof LockedKernel>;

/** Where a locked kernel comes from, for what differs by source. */
export function isDebianKernel(kernel: LockedKernel): kernel is LockedDebianKernel {
  return !('source' in kernel);
}

/** What a locked kernel is made of, by content: a new build, a new tree. */
export function contentIds(kernel: LockedKernel): string[] {
  if (isDebianKernel(kernel)) return kernel.packages.map((p) => p.sha256);
  return [kernel.image.sha256, kernel.modules?.sha256 ?? 'no modules', kernel.config?.sha256 ?? 'no config'];
}

/** One line saying what a locked kernel is, for `kernels update` and the logs. */
export function describeLocked(kernel: LockedKernel): string {
  if (isDebianKernel(kernel)) return `${kernel.release} (${kernel.packages.map((p) => `${p.package} ${p.version}`).join(', ')})`;
  const where = kernel.source === 'local' ? kernel.image.path : kernel.image.url;
  return `${kernel.release} (${where}, SHA256 ${kernel.image.sha256.slice(0, 12)}…${kernel.modules ? `, ${kernel.source === 'local' ? `${kernel.modules.files} module files` : 'modules archive'}` : ', no modules'})`;
}

export const Lock = z.strictObject({
  $comment: z.string().optional(),
  version: z.literal(1),
  kernels: z.array(LockedKernel),
});
export type Lock = z.infer<typeof Lock>;

/** Reads the lock at `path` (the project config's `kernels.lock`). */
export async function readLock(path: string): Promise<Lock> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error(`no kernel lock at ${path}: create it with \`kmatrix kernels update\` (it resolves ${join(dirname(path), 'kernels.json')}'s lines)`);
    throw err;
  });
  return parseJsonFile(path, Lock, text);
}

export async function writeLock(lock: Lock, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(Lock.parse(lock), null, 2)}\n`);
  await rename(tmp, path);
}

/**
 * Picks the kernels a run uses. `selection` is `KERNELS`/`--kernel`: a comma
 * list of names; empty means all. An unknown name is an error listing the known ones.
 */
export function selectKernels(lock: Lock, selection: string | undefined): LockedKernel[] {
  const wanted = (selection ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) return lock.kernels;
  const known = lock.kernels.map((k) => k.name);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown kernel ${unknown.map((u) => JSON.stringify(u)).join(', ')}; ` +
        `known kernels (images/kernels.lock.json): ${known.join(', ')}`,
    );
  }
  return lock.kernels.filter((k) => wanted.includes(k.name));
}
