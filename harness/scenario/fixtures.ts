import { basename, join } from 'node:path';
import { expect, inject, test as baseTest } from 'vitest';
import '../expect/matchers.ts';
import { Vm } from '../vm/vm.ts';
import { LoaderSession, type LoaderSpec } from '../loader/client.ts';
import { cacheDir, runDir } from '../util/paths.ts';
import { kernelAtLeast } from './kernel-version.ts';

export { expect };

/**
 * The scenario test: `vm` is one booted guest of this project's kernel,
 * shared by every case of the file and powered off after it; `startLoader`
 * starts the loader in it with this build's artifacts and a program's object.
 */
export const test = baseTest
  .extend('kernel', { scope: 'file' }, () => inject('kernelImage'))
  .extend('vm', { scope: 'file' }, async ({ kernel }, { onCleanup }) => {
    const scenario = basename(expect.getState().testPath ?? 'scenario', '.test.ts');
    const vm = await Vm.start(kernel, {
      accel: inject('accel'), // probed once by the global set-up
      cacheRoot: cacheDir(),
      consoleLogPath: join(runDir(), 'consoles', `${kernel.name}-${scenario}.log`),
      bootTimeoutMs: Number(process.env.KMATRIX_BOOT_TIMEOUT_MS) || undefined,
    });
    onCleanup(() => vm.stop());
    return vm;
  })
  .extend('startLoader', ({ vm }) => {
    const artifacts = inject('artifacts');
    return (program: string, spec: Omit<LoaderSpec, 'object'>) =>
      LoaderSession.start(vm.guest, vm.kernel.name, artifacts.loader, { ...spec, object: join(artifacts.ebpfDir, program) });
  })
  // Every case names the guest's console log (reporters show annotations
  // with a failure): it is where an oops, a splat or a hang shows.
  .extend('consoleLog', { auto: true }, async ({ vm, annotate }) => {
    await annotate(`guest console of ${vm.kernel.name}: ${vm.consoleLogPath}`, 'console');
    return vm.consoleLogPath;
  });

/** Skips the case, with the reason in the report, when the kernel is older than `min`. */
export function requireKernel(ctx: { skip: (condition: boolean, note?: string) => void; kernel: { release: string; name: string } }, min: string, why: string): void {
  ctx.skip(!kernelAtLeast(ctx.kernel.release, min), `needs kernel ≥ ${min} (${why}); ${ctx.kernel.name} is ${ctx.kernel.release}`);
}
