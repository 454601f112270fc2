// Boot benchmark: how far the harness is from the floor, measured in one run.
//
//   baseline  raw `qemu -kernel vmlinuz -initrd tiny.cpio` until a busybox
//             /init prints a marker: the cheapest boot this kernel can do
//   harness   Vm.start() until SSH answers (vng, virtiofs, guest init, sshd)
//   exec      one SSH round trip (`true`) in the booted guest
//   stop      Vm.stop(): clean power-off and cleanup
//
// Usage: npm run bench [-- --kernel 6.1 --runs 3]. Prints medians and the
// harness/baseline ratio, and writes out/bench.json.
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { fetchKernels } from '../kernels/fetch-all.ts';
import { readLock, selectKernels } from '../kernels/lock.ts';
import { chooseAccel } from '../vm/accel.ts';
import { Vm } from '../vm/vm.ts';
import { cacheDir, outDir } from '../util/paths.ts';

const { values } = parseArgs({ options: { kernel: { type: 'string' }, runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const kernels = selectKernels(await readLock(), values.kernel ?? process.env.KERNELS);
const images = await fetchKernels(kernels);

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

async function rawBoot(vmlinuz: string, initrd: string, accel: string): Promise<number> {
  const started = performance.now();
  const qemu = execa('qemu-system-x86_64', [
    '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : ['-cpu', 'max']), '-m', '512', '-smp', '2',
    '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-kernel', vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 rdinit=/init panic=-1 quiet',
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
const work = await mkdtemp(join(tmpdir(), 'kmatrix-bench-'));
const results: Record<string, unknown>[] = [];
try {
  const initrd = await tinyInitramfs(work);
  for (const kernel of kernels) {
    const image = images.get(kernel.name)!;
    const accel = await chooseAccel((process.env.KMATRIX_ACCEL as 'auto') ?? 'auto', image.vmlinuz, cacheDir());
    const baseline: number[] = [];
    const harness: number[] = [];
    const exec: number[] = [];
    const stop: number[] = [];
    for (let i = 0; i < runs; i++) {
      baseline.push(await rawBoot(image.vmlinuz, initrd, accel));
      const vm = await Vm.start(image, { accel, cacheRoot: cacheDir(), consoleLogPath: join(work, `console-${i}.log`) });
      try {
        harness.push(vm.bootMs);
        const t = performance.now();
        await vm.guest.exec('true');
        exec.push(performance.now() - t);
      } finally {
        const t = performance.now();
        await vm.stop();
        stop.push(performance.now() - t);
      }
    }
    const row = {
      kernel: kernel.name, accel, runs,
      baselineMs: Math.round(median(baseline)), harnessBootMs: Math.round(median(harness)),
      ratio: Number((median(harness) / median(baseline)).toFixed(2)),
      execRoundTripMs: Math.round(median(exec)), stopMs: Math.round(median(stop)),
    };
    results.push(row);
    console.log(
      `${kernel.name} (${accel}, median of ${runs}): raw QEMU boot ${(row.baselineMs / 1000).toFixed(1)} s, ` +
        `harness boot to SSH ${(row.harnessBootMs / 1000).toFixed(1)} s = ${row.ratio}x baseline; ` +
        `exec round trip ${row.execRoundTripMs} ms; stop ${row.stopMs} ms`,
    );
  }
  await mkdir(outDir(), { recursive: true });
  await writeFile(join(outDir(), 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
