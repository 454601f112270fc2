import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { Catalog } from './catalog.ts';
import { lockCatalog } from './lock-catalog.ts';
import { fetchLocalKernel, hashTree, lockLocalKernel } from './own-kernel.ts';

let root: string;
beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'kmatrix-own-kernel-test-'))));
afterEach(async () => rm(root, { recursive: true, force: true }));

/** A build tree as `make bzImage modules_install INSTALL_MOD_PATH=mods` leaves it (the image's header only: nothing here boots it). */
async function build(release: string): Promise<string> {
  const dir = join(root, 'linux');
  const image = Buffer.alloc(0x4000);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x20f, 0x206);
  image.writeUInt16LE(0x1000, 0x20e);
  image.write(`${release} (me@box) #1 SMP\0`, 0x1200, 'latin1');
  await mkdir(join(dir, 'arch/x86/boot'), { recursive: true });
  await writeFile(join(dir, 'arch/x86/boot/bzImage'), image);
  await writeFile(join(dir, '.config'), 'CONFIG_BPF_SYSCALL=y\n');
  const modules = join(dir, 'mods/lib/modules', release);
  await mkdir(join(modules, 'kernel/net'), { recursive: true });
  await writeFile(join(modules, 'kernel/net/veth.ko'), 'module bytes');
  await writeFile(join(modules, 'modules.order'), 'kernel/net/veth.ko\n');
  await symlink(dir, join(modules, 'build'));
  return dir;
}

describe('a local build in the catalog', () => {
  test('is pinned by the release its image says and the SHA256 of its files, its .config found beside it', async () => {
    const dir = await build('6.13.0-mine');
    const images = join(root, 'images');
    const locked = await lockLocalKernel({ name: 'mine', image: '../linux/arch/x86/boot/bzImage', modules: '../linux/mods' }, images, images);
    const { stdout } = await execa('sha256sum', [join(dir, 'arch/x86/boot/bzImage')]);
    expect(locked).toMatchObject({
      name: 'mine',
      source: 'local',
      release: '6.13.0-mine',
      image: { path: '../linux/arch/x86/boot/bzImage', sha256: stdout.split(' ')[0], size: 0x4000 },
      modules: { path: '../linux/mods/lib/modules/6.13.0-mine', files: 2 },
      config: { path: '../linux/.config' },
    });
  });

  test('a module changed since the lock is refused, with the command that pins the new build', async () => {
    const dir = await build('6.13.0-mine');
    const locked = await lockLocalKernel({ name: 'mine', image: 'linux/arch/x86/boot/bzImage', modules: 'linux/mods' }, root, root);
    await writeFile(join(dir, 'mods/lib/modules/6.13.0-mine/kernel/net/veth.ko'), 'rebuilt');
    await expect(fetchLocalKernel(locked, root, join(root, 'cache'))).rejects.toThrow(
      /^kernel mine: modules .*\/6\.13\.0-mine changed since the lock was written \(SHA256 [0-9a-f]{12}…, the lock has [0-9a-f]{12}…\): run `kmatrix kernels update`/,
    );
  });

  test("modules of another build are refused, naming both releases", async () => {
    await build('6.13.0-mine');
    await expect(lockLocalKernel({ name: 'mine', image: 'linux/arch/x86/boot/bzImage', modules: 'linux/mods/lib/modules/6.13.0-mine' }, root, root)).resolves.toBeDefined();
    await writeFile(join(root, 'linux/arch/x86/boot/bzImage'), (await import('node:fs')).readFileSync(join(root, 'linux/arch/x86/boot/bzImage')).fill(0, 0x1200, 0x1220).fill('6.14.0-new\0', 0x1200, 0x120b));
    await expect(lockLocalKernel({ name: 'mine', image: 'linux/arch/x86/boot/bzImage', modules: 'linux/mods' }, root, root)).rejects.toThrow(
      /^kernel mine: no modules for 6\.14\.0-new in .*linux\/mods \(it has lib\/modules\/6\.13\.0-mine: another build's\?\)/,
    );
  });

  test('hashTree covers paths and contents, not symlinks', async () => {
    const dir = await build('6.13.0-mine');
    const modules = join(dir, 'mods/lib/modules/6.13.0-mine');
    const before = await hashTree(modules);
    await rm(join(modules, 'build'));
    expect(await hashTree(modules)).toEqual(before);
    await writeFile(join(modules, 'modules.order'), 'kernel/net/veth.ko\n\n');
    expect((await hashTree(modules)).sha256).not.toBe(before.sha256);
  });
});

describe('the catalog', () => {
  test("an entry that is none of the three kinds says what each looks like", () => {
    const issue = (entry: object) => Catalog.safeParse({ kernels: [entry] }).error?.issues[0];
    expect(issue({ name: 'x' })?.message).toMatch(/^expected a Debian line \{ line, suite, .*a local kernel \{ name, image, modules\?, config\? \} or a kernel at a URL \{ name, url, sha256/);
    // Close to one kind: what is wrong with it.
    expect(issue({ name: 'x', image: 'a', url: 'https://example.org/bzImage' })).toMatchObject({ path: ['kernels', 0], message: 'Unrecognized key: "url"' });
    expect(issue({ name: 'x', url: 'ftp://example.org/bzImage', sha256: 'a'.repeat(64) })).toMatchObject({ path: ['kernels', 0, 'url'] });
  });

  test('two kernels of one name are refused', async () => {
    await build('6.13.0-mine');
    const entry = { name: 'mine', image: 'linux/arch/x86/boot/bzImage' };
    await expect(lockCatalog({ kernels: [entry, entry] }, { catalogDir: root, lockDir: root, cacheRoot: join(root, 'cache') })).rejects.toThrow(
      'two kernels of the catalog are named "mine" (6.13.0-mine and 6.13.0-mine): give one a `name`',
    );
  });
});
