import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { contentIds, type LockedDebianKernel, type LockedKernel } from './lock.ts';
import { firstExisting } from '../util/files.ts';

/** A kernel ready to boot: the normalised tree virtme-ng expects. */
export const KernelImage = z.strictObject({
  name: z.string(),
  release: z.string(),
  /** `<root>/boot/vmlinuz-<release>` */
  vmlinuz: z.string(),
  /** The tree holding `lib/modules/<release>` with modules.dep; virtme-ng finds it by walking up from vmlinuz. */
  root: z.string(),
  /** `<root>/boot/config-<release>`, when the package ships it. */
  config: z.string().optional(),
});
export type KernelImage = z.infer<typeof KernelImage>;

const MARKER = 'kmatrix-kernel.json';
/** Bump when the tree's normalisation changes, so cached trees are rebuilt. */
const TREE_LAYOUT = 2;

/** The tree's directory: named by release and by what it is made of, so a new build never reuses an old tree. */
export function treeDir(cacheRoot: string, kernel: LockedKernel): string {
  const id = createHash('sha256')
    .update([`layout ${TREE_LAYOUT}`, ...contentIds(kernel)].join('\n'))
    .digest('hex')
    .slice(0, 12);
  return join(cacheRoot, 'kernels', `${kernel.release}-${id}`);
}

/** Where a kernel's parts ended up in a scratch dir, for {@link buildTree} to arrange. */
export interface KernelParts {
  vmlinuz: string;
  /** `lib/modules/<release>`; none for a kernel with everything built in. */
  modules?: string;
  config?: string;
}

/**
 * Builds a kernel's normalised tree once: `fill` puts its parts into a
 * scratch dir and says where; they become `boot/vmlinuz-REL`,
 * `boot/config-REL` and `lib/modules/REL`, with plain `.ko` files and a
 * fresh modules.dep (packages and most builds ship none). Built in a temp
 * dir and renamed into place: the marker file means complete.
 */
export async function buildTree(kernel: LockedKernel, cacheRoot: string, fill: (scratch: string) => Promise<KernelParts>): Promise<KernelImage> {
  const dir = treeDir(cacheRoot, kernel);
  const existing = await readMarker(dir);
  if (existing) return existing;

  await mkdir(join(cacheRoot, 'kernels'), { recursive: true });
  const tmp = await mkdtemp(join(cacheRoot, 'kernels', '.unpack-'));
  try {
    const raw = join(tmp, 'raw');
    await mkdir(raw);
    const parts = await fill(raw);
    const root = join(tmp, 'tree');
    const rel = kernel.release;
    const modules = join(root, 'lib', 'modules', rel);
    await mkdir(join(root, 'boot'), { recursive: true });
    await mkdir(join(root, 'lib', 'modules'), { recursive: true });
    await rename(parts.vmlinuz, join(root, 'boot', `vmlinuz-${rel}`));
    if (parts.config) await rename(parts.config, join(root, 'boot', `config-${rel}`));
    if (parts.modules) await rename(parts.modules, modules);
    else await mkdir(modules);
    await decompressModules(modules);
    await execa('depmod', ['-b', root, rel], { env: { PATH: `/usr/sbin:/sbin:${process.env.PATH}` } });

    const image: KernelImage = {
      name: kernel.name,
      release: rel,
      vmlinuz: join(dir, 'tree', 'boot', `vmlinuz-${rel}`),
      root: join(dir, 'tree'),
      config: parts.config ? join(dir, 'tree', 'boot', `config-${rel}`) : undefined,
    };
    await rm(raw, { recursive: true, force: true });
    await writeFile(join(tmp, MARKER), `${JSON.stringify(image, null, 2)}\n`);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another run finished the same tree first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    const done = await readMarker(dir);
    if (!done) throw new Error(`${dir} is incomplete after unpacking; remove it and run again`);
    return done;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * A Debian kernel's tree from its verified .debs: vmlinuz, config and
 * modules wherever the packages put them (`usr/lib/modules`, or vmlinuz
 * inside the modules dir in sid's split packages).
 */
export async function unpackKernel(kernel: LockedDebianKernel, debs: string[], cacheRoot: string): Promise<KernelImage> {
  return buildTree(kernel, cacheRoot, async (raw) => {
    for (const deb of debs) await execa('dpkg-deb', ['-x', deb, raw]);
    const rel = kernel.release;
    const modules = await firstExisting([join(raw, 'lib/modules', rel), join(raw, 'usr/lib/modules', rel)]);
    if (!modules) throw new Error(`${kernel.name}: no lib/modules/${rel} in ${kernel.packages.map((p) => p.package).join(' + ')}`);
    const vmlinuz = await firstExisting([join(raw, 'boot', `vmlinuz-${rel}`), join(modules, 'vmlinuz')]);
    if (!vmlinuz) throw new Error(`${kernel.name}: no vmlinuz for ${rel} in the package(s)`);
    const config = await firstExisting([join(raw, 'boot', `config-${rel}`), join(modules, 'config')]);
    // Out of the modules dir before it moves (sid's layout keeps them inside).
    const moved = { vmlinuz: join(raw, 'vmlinuz.kmatrix'), config: config && join(raw, 'config.kmatrix') };
    await rename(vmlinuz, moved.vmlinuz);
    if (config) await rename(config, moved.config!);
    return { vmlinuz: moved.vmlinuz, modules, config: moved.config };
  });
}

/**
 * From 6.12 on Debian compresses modules with xz. virtme-ng's initramfs loads
 * modules with busybox insmod, which only takes plain ELF (virtme-ng itself
 * unpacks .ko.zst, not .ko.xz), so every kernel's tree gets plain `.ko`.
 */
async function decompressModules(moduleDir: string): Promise<void> {
  await execa('sh', ['-c', 'find . -name "*.ko.xz" -print0 | xargs -0 -r -P "$(nproc)" -n 64 xz -d'], { cwd: moduleDir });
}

async function readMarker(dir: string): Promise<KernelImage | undefined> {
  try {
    return KernelImage.parse(JSON.parse(await readFile(join(dir, MARKER), 'utf8')));
  } catch {
    return undefined;
  }
}
