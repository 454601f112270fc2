// Bring your own kernel: a kernel that is not a Debian package, laid out as
// a user has it, goes from the catalog through the lock to a booted guest.
// The kernel is this run's Debian one, arranged as a build tree leaves it
// (arch/x86/boot/bzImage, .config, `make modules_install` output) and
// served from a web server of the test's own: what the guest reports is
// compared with what the Debian lock says of that build. Unlike the
// *.fault.ts files around it, every case here must pass.
import { execa } from 'execa';
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import { afterAll, expect, inject, test } from 'vitest';
import type { Catalog } from '../kernels/catalog.ts';
import { fetchKernels } from '../kernels/fetch-all.ts';
import { lockCatalog } from '../kernels/lock-catalog.ts';
import { sha256OfFile } from '../kernels/download.ts';
import { Vm } from '../vm/vm.ts';
import { cacheDir, runDir } from '../util/paths.ts';

const debian = inject('kernelImage');
const artifacts = inject('artifacts');
const work = await tmpDir({ prefix: 'kmatrix-own-kernel-', unsafeCleanup: true });
afterAll(() => work.cleanup());

// A build tree: the image, its .config and its installed modules (with the
// `build` link modules_install leaves).
const linux = join(work.path, 'linux');
const installed = join(linux, 'mods', 'lib', 'modules', debian.release);
await mkdir(join(linux, 'arch', 'x86', 'boot'), { recursive: true });
await mkdir(join(linux, 'mods', 'lib', 'modules'), { recursive: true });
await execa('cp', ['--reflink=auto', debian.vmlinuz, join(linux, 'arch', 'x86', 'boot', 'bzImage')]);
await execa('cp', ['--reflink=auto', debian.config!, join(linux, '.config')]);
await execa('cp', ['-a', '--reflink=auto', join(debian.root, 'lib', 'modules', debian.release), installed]);
await symlink(linux, join(installed, 'build'));
const images = join(work.path, 'project', 'images');
await mkdir(images, { recursive: true });

const lockAndFetch = async (catalog: Catalog) => {
  const said: string[] = [];
  const kernels = await lockCatalog(catalog, { catalogDir: images, lockDir: images, cacheRoot: cacheDir() });
  const trees = await fetchKernels(kernels, images, (line) => said.push(line));
  return { kernel: kernels[0]!, tree: trees.get(kernels[0]!.name)!, said };
};

/** Boots the tree and asks the guest what it runs and whether its modules load. */
async function bootAndAsk(tree: Parameters<typeof Vm.start>[0], label: string) {
  await using vm = await Vm.start(tree, {
    accel: inject('accel'), cacheRoot: cacheDir(), agent: artifacts.agent, fastboot: artifacts.fastboot, consoleLogPath: join(runDir(), 'consoles', `own-kernel-${label}.log`),
  });
  const release = (await vm.guest.exec('uname -r')).stdout.trim();
  // veth is a module in Debian's config: loading it proves the tree's modules and modules.dep.
  const modprobe = await vm.guest.exec('modprobe veth && test -d /sys/module/veth && echo loaded');
  return { release, modprobe: modprobe.stdout.trim() || modprobe.stderr.trim(), notes: vm.notes };
}

test('a local build (bzImage, .config beside it, INSTALL_MOD_PATH) is pinned, checked and booted', async () => {
  const { kernel, tree, said } = await lockAndFetch({ kernels: [{ name: 'mine', image: '../../linux/arch/x86/boot/bzImage', modules: '../../linux/mods' }] });
  expect(kernel).toMatchObject({
    source: 'local',
    // From the image's header; the Debian lock's from the package's name.
    release: debian.release,
    image: { path: '../../linux/arch/x86/boot/bzImage', sha256: await sha256OfFile(debian.vmlinuz) },
    modules: { path: `../../linux/mods/lib/modules/${debian.release}` },
    config: { path: '../../linux/.config' },
  });
  expect(said.filter((line) => / lacks /.test(line))).toEqual([]);
  expect(await bootAndAsk(tree, 'local')).toEqual({ release: debian.release, modprobe: 'loaded', notes: [] });
});

test('a kernel at a URL: a wrong SHA256 is refused; the right one is downloaded, verified and booted', async () => {
  const served = join(work.path, 'served');
  await mkdir(served);
  await execa('cp', ['--reflink=auto', debian.vmlinuz, join(served, 'bzImage')]);
  // Byte for byte the same archive each run, so its tree (and download) is
  // cached like any kernel's: without the `build` link, whose target is this
  // run's temp dir (and which a published archive has no use for).
  await execa('sh', ['-c', 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --exclude="lib/modules/*/build" -C "$1" -cf - lib | gzip -n > "$2"', 'tar', join(linux, 'mods'), join(served, 'modules.tar.gz')]);
  const server = await serve(served);
  try {
    const url = (file: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${file}`;
    const imageSha = (await sha256OfFile(join(served, 'bzImage')))!;
    const modules = { url: url('modules.tar.gz'), sha256: (await sha256OfFile(join(served, 'modules.tar.gz')))! };

    const wrong = '0'.repeat(64);
    await expect(lockAndFetch({ kernels: [{ name: 'theirs', url: url('bzImage'), sha256: wrong, modules }] })).rejects.toThrow(
      `kernel theirs's image: ${url('bzImage')} has SHA256 ${imageSha} (${(await execa('stat', ['-c', '%s', join(served, 'bzImage')])).stdout} bytes), not the pinned ${wrong}`,
    );

    const { kernel, tree } = await lockAndFetch({ kernels: [{ name: 'theirs', url: url('bzImage'), sha256: imageSha, modules }] });
    expect(kernel).toMatchObject({ source: 'url', release: debian.release, image: { url: url('bzImage'), sha256: imageSha }, modules });
    expect(await bootAndAsk(tree, 'url')).toEqual({ release: debian.release, modprobe: 'loaded', notes: [] });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a kernel that lacks what the VM needs is stopped before it boots, naming each option and why', async () => {
  // Debian builds virtio_net, the console port and virtiofs as modules: without them the VM cannot come up.
  await expect(lockAndFetch({ kernels: [{ name: 'bare', image: '../../linux/arch/x86/boot/bzImage' }] })).rejects.toThrow(
    /^kernel bare cannot run the harness; its config \(.*\) lacks:\n(.*\n)* {2}- CONFIG_VIRTIO_NET=y \(the network card the harness's SSH goes over\): CONFIG_VIRTIO_NET =m, but the kernel comes without modules\n/,
  );
});

/** A web server for the files of `dir`, on a loopback port. */
async function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
    const stream = createReadStream(join(dir, name));
    stream.on('error', () => res.writeHead(404).end());
    stream.on('open', () => stream.pipe(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
