import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import type { LocalKernel, UrlKernel } from './catalog.ts';
import { releaseOfImage } from './bzimage.ts';
import { ensureFile, sha256OfFile } from './download.ts';
import type { LockedLocalKernel, LockedUrlKernel } from './lock.ts';
import { buildTree, type KernelImage } from './unpack.ts';
import { exists, filesUnder, firstExisting } from '../util/files.ts';

// Kernels that are not Debian packages: a build on this machine, or a
// bzImage (and modules archive) at a URL. `kernels update` pins them by
// content; a run verifies them against the pin and builds the same
// normalised tree as a Debian kernel's (harness/kernels/unpack.ts).

/** Pins a local build: the release its image says, and the SHA256 of the image, modules and config. Paths in the lock are relative to its directory. */
export async function lockLocalKernel(entry: LocalKernel, catalogDir: string, lockDir: string): Promise<LockedLocalKernel> {
  const image = resolve(catalogDir, entry.image);
  const release = await releaseOfImage(image);
  const modules = entry.modules ? await modulesDir(resolve(catalogDir, entry.modules), release, entry.name) : undefined;
  const config = entry.config ? resolve(catalogDir, entry.config) : await configBeside(image, release);
  const pinned = async (path: string) => ({ path: relative(lockDir, path) || '.', sha256: (await sha256OfFile(path))!, size: (await stat(path)).size });
  return {
    name: entry.name,
    source: 'local',
    release,
    image: await pinned(image),
    ...(modules ? { modules: { path: relative(lockDir, modules), ...(await hashTree(modules)) } } : {}),
    ...(config ? { config: await pinned(config) } : {}),
  };
}

/** Pins a kernel at a URL: its files are downloaded (and verified) now, for the release its image says. */
export async function lockUrlKernel(entry: UrlKernel, cacheRoot: string): Promise<LockedUrlKernel> {
  const image = (await download(cacheRoot, entry.name, 'image', entry)).path;
  const size = async (path: string) => (await stat(path)).size;
  return {
    name: entry.name,
    source: 'url',
    release: await releaseOfImage(image),
    image: { url: entry.url, sha256: entry.sha256, size: await size(image) },
    ...(entry.modules ? { modules: { ...entry.modules, size: await size((await download(cacheRoot, entry.name, 'modules', entry.modules)).path) } } : {}),
    ...(entry.config ? { config: { ...entry.config, size: await size((await download(cacheRoot, entry.name, 'config', entry.config)).path) } } : {}),
  };
}

/**
 * A local build's tree, after checking that its files are still what the
 * lock pinned: a rebuilt kernel is tested only once the lock says so.
 */
export async function fetchLocalKernel(kernel: LockedLocalKernel, lockDir: string, cacheRoot: string): Promise<KernelImage> {
  const image = resolve(lockDir, kernel.image.path);
  const modules = kernel.modules && resolve(lockDir, kernel.modules.path);
  const config = kernel.config && resolve(lockDir, kernel.config.path);
  const changed = (what: string, path: string, now: string | undefined, pinned: string) =>
    new Error(
      `kernel ${kernel.name}: ${what} ${path} ${now ? `changed since the lock was written (SHA256 ${now.slice(0, 12)}…, the lock has ${pinned.slice(0, 12)}…)` : 'is gone'}: ` +
        'run `kmatrix kernels update` to test this build',
    );
  const imageNow = await sha256OfFile(image);
  if (imageNow !== kernel.image.sha256) throw changed('image', image, imageNow, kernel.image.sha256);
  if (modules) {
    const now = await hashTree(modules).catch(() => undefined);
    if (now?.sha256 !== kernel.modules!.sha256) throw changed('modules', modules, now?.sha256, kernel.modules!.sha256);
  }
  if (config) {
    const now = await sha256OfFile(config);
    if (now !== kernel.config!.sha256) throw changed('config', config, now, kernel.config!.sha256);
  }
  return buildTree(kernel, cacheRoot, async (scratch) => {
    await copy(image, join(scratch, 'vmlinuz'));
    if (config) await copy(config, join(scratch, 'config'));
    if (modules) {
      await copy(modules, join(scratch, 'modules'));
      // A build's modules_install links its source tree: nothing the VM reads.
      for (const link of ['build', 'source']) await rm(join(scratch, 'modules', link), { force: true });
    }
    return { vmlinuz: join(scratch, 'vmlinuz'), modules: modules && join(scratch, 'modules'), config: config && join(scratch, 'config') };
  });
}

/** A kernel at a URL: its verified downloads, arranged as a tree. */
export async function fetchUrlKernel(kernel: LockedUrlKernel, cacheRoot: string): Promise<{ image: KernelImage; downloaded: string[] }> {
  const downloaded: string[] = [];
  const get = async (what: string, file: { url: string; sha256: string }) => {
    const result = await download(cacheRoot, kernel.name, what, file);
    if (result.downloaded) downloaded.push(`${what} (${file.url})`);
    return result.path;
  };
  const image = await get('image', kernel.image);
  const modulesArchive = kernel.modules && (await get('modules', kernel.modules));
  const config = kernel.config && (await get('config', kernel.config));
  const tree = await buildTree(kernel, cacheRoot, async (scratch) => {
    await copy(image, join(scratch, 'vmlinuz'));
    if (config) await copy(config, join(scratch, 'config'));
    let modules: string | undefined;
    if (modulesArchive) {
      const unpacked = join(scratch, 'archive');
      await mkdir(unpacked);
      // GNU tar recognises gzip, xz, bzip2 and zstd archives by their content.
      await execa('tar', ['-xf', modulesArchive, '-C', unpacked]);
      modules = await modulesDir(unpacked, kernel.release, kernel.name, kernel.modules!.url);
    }
    return { vmlinuz: join(scratch, 'vmlinuz'), modules, config: config && join(scratch, 'config') };
  });
  return { image: tree, downloaded };
}

/** One of a kernel's files from its URL, verified, in the content-addressed `downloads/<sha256>`. */
function download(cacheRoot: string, name: string, what: string, file: { url: string; sha256: string }) {
  return ensureFile({ url: file.url, sha256: file.sha256, label: `kernel ${name}'s ${what}`, path: join(cacheRoot, 'downloads', file.sha256) });
}

/**
 * `lib/modules/<release>` given either itself or a root that holds it (an
 * INSTALL_MOD_PATH, an unpacked archive). Its name must be the image's
 * release, or the guest's modprobe would look elsewhere.
 */
async function modulesDir(given: string, release: string, name: string, from = given): Promise<string> {
  if (await exists(join(given, 'modules.order')) || await exists(join(given, 'kernel'))) {
    if (basename(given) !== release) {
      throw new Error(`kernel ${name}: the modules in ${from} are for ${basename(given)}, but the image is ${release}; give the modules of the same build`);
    }
    return given;
  }
  const inside = await firstExisting([join(given, 'lib', 'modules', release), join(given, 'usr', 'lib', 'modules', release), join(given, release)]);
  if (inside) return inside;
  const found = await readdir(join(given, 'lib', 'modules')).catch(() => [] as string[]);
  throw new Error(
    `kernel ${name}: no modules for ${release} in ${from}` +
      (found.length ? ` (it has lib/modules/${found.join(', lib/modules/')}: another build's?)` : '') +
      '; give lib/modules/<release> itself or the INSTALL_MOD_PATH of `make modules_install`',
  );
}

/** The .config of an image in a build tree (arch/x86/boot/bzImage → .config) or in /boot (vmlinuz-REL → config-REL). */
async function configBeside(image: string, release: string): Promise<string | undefined> {
  return firstExisting([join(dirname(image), `config-${release}`), join(dirname(image), '..', '..', '..', '.config')]);
}

/**
 * SHA256 over a directory's regular files, each by its relative path and
 * content, in path order; symlinks are left out (a build's `build` and
 * `source` point into its source tree).
 */
export async function hashTree(dir: string): Promise<{ sha256: string; size: number; files: number }> {
  if (!(await lstat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);
  const files = (await filesUnder(dir)).map((file) => relative(dir, file)).sort();
  const hash = createHash('sha256');
  let size = 0;
  for (const file of files) {
    const bytes = (await stat(join(dir, file))).size;
    size += bytes;
    hash.update(`${file}\0${bytes}\0`);
    for await (const chunk of createReadStream(join(dir, file))) hash.update(chunk as Buffer);
  }
  return { sha256: hash.digest('hex'), size, files: files.length };
}

async function copy(from: string, to: string): Promise<void> {
  await execa('cp', ['-a', '--reflink=auto', from, to]);
}
