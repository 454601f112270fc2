// Benchmark: how far the harness is from the floor, measured in one run.
//
//   floor     raw `qemu -kernel vmlinuz -initrd tiny.cpio` until a busybox
//             /init prints a marker: the cheapest boot this kernel can do
//             with the kernel's own defaults; the ratio is against it
//   floor'    the same with the harness's kernel options
//             (harness/vm/boot-options.ts): what is left is the harness's
//             own cost (vng, virtiofs, modules, init, sshd, SSH)
//   boot      Vm.start() until the guest agent answers (vng, virtiofs, guest
//             init, sshd, SSH, agent)
//   command   one guest command round trip (`true`), p50 of 50: through the
//             agent (what scenarios use), and as its own SSH channel
//   stop      Vm.stop(): clean power-off and cleanup
//   matrix    with --matrix: the whole scenario matrix (`vitest run` of every
//             kernel project), its wall time and how many boots it took
//
// Usage: npm run bench [-- --kernel 6.1 --runs 3 --matrix]. Prints medians
// and the boot/floor ratio, and writes out/bench.json.
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { fetchKernels } from '../kernels/fetch-all.ts';
import { readLock, selectKernels } from '../kernels/lock.ts';
import { chooseAccel } from '../vm/accel.ts';
import { Vm } from '../vm/vm.ts';
import { kernelBootOptions } from '../vm/boot-options.ts';
import { Guest } from '../guest/guest.ts';
import { buildAll } from '../build/index.ts';
import { cacheDir, outDir, packageRoot, userRoot } from '../util/paths.ts';
import { loadConfig } from '../config/load.ts';

const { values } = parseArgs({ options: { kernel: { type: 'string' }, runs: { type: 'string', default: '3' }, matrix: { type: 'boolean', default: false } } });
const runs = Number(values.runs);
const config = await loadConfig(userRoot());
const kernels = selectKernels(await readLock(config.kernels.lock), values.kernel ?? process.env.KERNELS);
const images = await fetchKernels(kernels, dirname(config.kernels.lock));
const { agent, fastboot } = await buildAll(config);
const COMMANDS = 50;
let warned = false;

const MARKER = 'kmatrix-bench-init';
const busybox = '/bin/busybox';

/** A newc initramfs whose /init prints the marker and powers off. */
async function tinyInitramfs(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  await execa('cp', [busybox, join(root, 'bin', 'busybox')]);
  await writeFile(join(root, 'init'), `#!/bin/busybox sh\n/bin/busybox echo ${MARKER}\n/bin/busybox poweroff -f\n`);
  await chmod(join(root, 'init'), 0o755);
  const cpio = join(dir, 'tiny.cpio');
  await execa('sh', ['-c', `cd ${root} && find . | ${busybox} cpio -o -H newc > ${cpio}`]);
  return cpio;
}

async function rawBoot(vmlinuz: string, initrd: string, accel: string, kernelOptions: string[] = []): Promise<number> {
  const started = performance.now();
  const qemu = execa('qemu-system-x86_64', [
    '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : ['-cpu', 'max']), '-m', '512', '-smp', '2',
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-kernel', vmlinuz, '-initrd', initrd, '-append', ['console=ttyS0 rdinit=/init panic=-1 quiet', ...kernelOptions].join(' '),
  ], { reject: false, timeout: 120_000, stdin: 'ignore' });
  let at: number | undefined;
  let output = '';
  qemu.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (at === undefined && output.includes(MARKER)) at = performance.now() - started;
  });
  const result = await qemu;
  if (at === undefined) throw new Error(`raw boot of ${vmlinuz} never printed the marker:\n${output.slice(-2000)}\n${result.stderr}`);
  return at;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** COMMANDS round trips of `true`, in ms each. */
async function roundTrips(guest: Guest): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const t = performance.now();
    await guest.exec('true');
    times.push(performance.now() - t);
  }
  return times;
}
const work = await mkdtemp(join(tmpdir(), 'kmatrix-bench-'));
const results: Record<string, unknown>[] = [];
try {
  const initrd = await tinyInitramfs(work);
  for (const kernel of kernels) {
    const image = images.get(kernel.name)!;
    const accel = await chooseAccel((process.env.KMATRIX_ACCEL as 'auto') ?? 'auto', image.vmlinuz, cacheDir(), (msg) => {
      if (!warned) console.warn(msg); // once per run, not per kernel
      warned = true;
    });
    const baseline: number[] = [];
    const tunedBaseline: number[] = [];
    const harness: number[] = [];
    const exec: number[] = [];
    const sshExec: number[] = [];
    const stop: number[] = [];
    for (let i = 0; i < runs; i++) {
      baseline.push(await rawBoot(image.vmlinuz, initrd, accel));
      tunedBaseline.push(await rawBoot(image.vmlinuz, initrd, accel, kernelBootOptions));
      const vm = await Vm.start(image, { accel, cacheRoot: cacheDir(), consoleLogPath: join(work, `console-${i}.log`), agent, fastboot });
      try {
        harness.push(vm.bootMs);
        exec.push(...(await roundTrips(vm.guest)));
        const plain = await Guest.connect({ port: vm.ssh.port, privateKeyPath: vm.ssh.privateKeyPath, deadline: Date.now() + 30_000, label: 'bench' });
        try {
          sshExec.push(...(await roundTrips(plain)));
        } finally {
          plain.close();
        }
      } finally {
        const t = performance.now();
        await vm.stop();
        stop.push(performance.now() - t);
      }
    }
    const row = {
      kernel: kernel.name, accel, runs, kernelOptions: kernelBootOptions,
      baselineMs: Math.round(median(baseline)), harnessBootMs: Math.round(median(harness)),
      ratio: Number((median(harness) / median(baseline)).toFixed(2)),
      tunedBaselineMs: Math.round(median(tunedBaseline)),
      tunedRatio: Number((median(harness) / median(tunedBaseline)).toFixed(2)),
      commandP50Ms: Math.round(median(exec)), sshChannelCommandP50Ms: Math.round(median(sshExec)), stopMs: Math.round(median(stop)),
    };
    results.push(row);
    console.log(
      `${kernel.name} (${accel}, median of ${runs}): floor ${(row.baselineMs / 1000).toFixed(1)} s, ` +
        `boot to ready ${(row.harnessBootMs / 1000).toFixed(1)} s = ${row.ratio}x floor ` +
        `(${row.tunedRatio}x floor' ${(row.tunedBaselineMs / 1000).toFixed(1)} s, with ${kernelBootOptions.join(' ')}); ` +
        `command p50 ${row.commandP50Ms} ms (own SSH channel: ${row.sshChannelCommandP50Ms} ms); stop ${row.stopMs} ms`,
    );
  }
  if (values.matrix) {
    const started = performance.now();
    const run = await execa('vitest', ['run', '--project', 'kernel *'], { cwd: packageRoot, reject: false, all: true, env: { KERNELS: kernels.map((k) => k.name).join(',') } });
    const wallS = (performance.now() - started) / 1000;
    const summary = /^VMs: .*$/m.exec(run.all ?? '')?.[0] ?? 'no pool summary';
    const matrix = /^matrix: .*$/m.exec(run.all ?? '')?.[0] ?? 'no matrix line';
    results.push({ matrix: { wallS: Math.round(wallS), exitCode: run.exitCode, summary, matrixLine: matrix } });
    console.log(`matrix (${kernels.length} kernels): ${wallS.toFixed(0)} s wall, exit ${run.exitCode}; ${matrix}; ${summary}`);
  }
  await mkdir(outDir(), { recursive: true });
  await writeFile(join(outDir(), 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
