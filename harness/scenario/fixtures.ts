import { basename, join } from 'node:path';
import { expect, inject, test as baseTest } from 'vitest';
import '../expect/matchers.ts';
import { Vm } from '../vm/vm.ts';
import type { CaseWatch } from '../vm/case-watch.ts';
import { LoaderSession, type LoaderSpec } from '../loader/client.ts';
import { cacheDir, runDir } from '../util/paths.ts';
import { kernelAtLeast } from './kernel-version.ts';

export { expect };

/**
 * The scenario test: `vm` is one booted guest of this project's kernel,
 * shared by every case of the file and powered off after it; `kernelLog`
 * watches the kernel during each case and fails the case on a splat;
 * `startLoader` starts the loader in the guest with this build's artifacts
 * and a program's object, and every loader a case started is killed when
 * the case ends, whatever happened in it.
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
  // Every case: the kernel log is marked when it begins and read when it
  // ends; a panic, oops, WARN, lockup … in between fails it with the
  // kernel's own lines (its teardown throws, which vitest reports as the
  // case's failure). A VM that died in an earlier case fails this one at once.
  .extend('kernelLog', { auto: true }, async ({ vm, task }, { onCleanup }): Promise<CaseWatch> => {
    const watch = await vm.watchCase(task.name);
    onCleanup(() => watch.finish());
    return watch;
  })
  .extend('startLoader', ({ vm, kernelLog: _ }, { onCleanup }) => {
    const artifacts = inject('artifacts');
    const sessions: LoaderSession[] = [];
    onCleanup(async () => {
      for (const session of sessions) await session[Symbol.asyncDispose]();
    });
    return async (program: string, spec: Omit<LoaderSpec, 'object'>) => {
      const session = await LoaderSession.start(vm.guest, `kernel ${vm.kernel.name}`, artifacts.loader, { ...spec, object: join(artifacts.ebpfDir, program) });
      sessions.push(session);
      return session;
    };
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
