import { basename, join, relative } from 'node:path';
import { expect, inject, test as baseTest } from 'vitest';
import '../expect/matchers.ts';
import type { CaseWatch } from '../vm/case-watch.ts';
import { LeasedVm } from '../pool/lease.ts';
import { LoaderError, LoaderSession, type LoaderSpec } from '../loader/client.ts';
import { userRoot } from '../util/paths.ts';
import { kernelAtLeast } from './kernel-version.ts';
import { casePhases, type Phases } from '../report/phases.ts';
import { figuresOfFailure, figuresOfSession, type ProgramFigures } from '../report/figures.ts';
import { UserProgram } from '../userspace/program.ts';
import { readLiveMaps } from '../userspace/live-maps.ts';

declare module 'vitest' {
  interface TaskMeta {
    /** Where the case's time went, for the report (see harness/report/phases.ts). */
    phases?: Phases;
    /** Each program the case's loaders loaded, or tried to: outcome, verifier and run figures (see harness/report/figures.ts). */
    figures?: ProgramFigures[];
  }
}

export { expect };

/**
 * The scenario test: `vm` is a VM of this project's kernel leased from the
 * run's pool for the whole file (one VM per kernel serves the files one
 * after another, reset in between; see harness/pool); `kernelLog`
 * watches the kernel during each case and fails the case on a splat;
 * `startLoader` starts the loader in the guest with this build's artifacts
 * and a program's object, and every loader a case started is killed when
 * the case ends, whatever happened in it.
 */
export const test = baseTest
  .extend('kernel', { scope: 'file' }, () => inject('kernelImage'))
  // Whether the file gets a VM of its own (see testOnOwnVm). A retried file
  // always does: its retry must not run on a VM another file has used.
  .extend('ownVm', { scope: 'file' }, () => inject('freshVm') === true)
  // Handing the VM back fails the file if the VM cannot serve another one
  // (the kernel died or splatted, the guest stopped answering, what the
  // file left could not be removed): this file, not the next, gets the blame.
  .extend('vm', { scope: 'file' }, async ({ kernel, ownVm }, { onCleanup }) => {
    const file = relative(userRoot(), expect.getState().testPath ?? 'unknown file');
    const vm = await LeasedVm.acquire(inject('vmBroker'), kernel, file, { own: ownVm });
    onCleanup(async () => void (await vm.release()));
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
  // The host path of one of the build's eBPF objects (the guest sees it too).
  .extend('objectPath', { scope: 'file' }, () => (program: string) => join(inject('artifacts').ebpfDir, program))
  .extend('startLoader', ({ vm, task, objectPath, kernelLog: _ }, { onCleanup }) => {
    const artifacts = inject('artifacts');
    const sessions: { object: string; session: LoaderSession }[] = [];
    const figures: ProgramFigures[] = [];
    const caseStart = performance.now();
    onCleanup(async () => {
      for (const { session } of sessions) await session[Symbol.asyncDispose]();
      if (sessions.length) task.meta.phases = casePhases(caseStart, performance.now(), sessions.map((s) => s.session.timeline));
      // Run counts are in the stats line: only a session that was stopped has them.
      for (const { object, session } of sessions) figures.push(...figuresOfSession(object, session.ready, session.stats));
      if (figures.length) task.meta.figures = figures;
    });
    return async (program: string, spec: Omit<LoaderSpec, 'object'>) => {
      const object = objectPath(program);
      try {
        const session = await LoaderSession.start(vm.guest, `kernel ${vm.kernel.name}`, artifacts.loader, { ...spec, object });
        sessions.push({ object: basename(object), session });
        return session;
      } catch (err) {
        // A refused program is a figure too (and some cases expect it).
        const failed = err instanceof LoaderError ? figuresOfFailure(basename(object), err.line) : undefined;
        if (failed) figures.push(failed);
        throw err;
      }
    };
  })
  // kmatrix-probe-target: a process with a known function to put uprobes
  // on, which reports every call it made (see runProbeTarget).
  .extend('probeTarget', { scope: 'file' }, () => inject('artifacts').probeTarget)
  // The project's own userspace binaries (config `userspace`), started in
  // the guest; each is killed when the case ends, whatever happened.
  .extend('startProgram', ({ vm, kernelLog: _ }, { onCleanup }) => {
    const programs: UserProgram[] = [];
    onCleanup(async () => {
      for (const program of programs) await program[Symbol.asyncDispose]();
    });
    return async (name: string, args: string[] = [], options: { env?: Record<string, string> } = {}) => {
      const binaries = inject('artifacts').binaries;
      const path = binaries[name];
      if (!path) throw new Error(`no userspace binary named ${name} in this build (the config's userspace crates built: ${Object.keys(binaries).join(', ') || 'none'})`);
      const program = await UserProgram.start(vm.guest, `kernel ${vm.kernel.name}`, name, path, args, options.env);
      programs.push(program);
      return program;
    };
  })
  // The maps a running program created, read from the kernel by name and
  // decoded with `program`'s object's types (see readLiveMaps).
  .extend('readLiveMaps', ({ vm, objectPath }) => {
    return (program: string, maps: Record<string, string>, options?: { bytes?: string[] }) =>
      readLiveMaps(vm.guest, `kernel ${vm.kernel.name}`, inject('artifacts').loader, objectPath(program), maps, options);
  })
  // Every case names the guest's console log (reporters show annotations
  // with a failure): it is where an oops, a splat or a hang shows.
  .extend('consoleLog', { auto: true }, async ({ vm, annotate }) => {
    await annotate(`guest console of ${vm.kernel.name}: ${vm.consoleLogPath}`, 'console');
    return vm.consoleLogPath;
  });

/**
 * The scenario test on a VM of the file's own, booted for it and stopped
 * after it: for a file that changes what it cannot undo (sysctls, modules)
 * or breaks the kernel on purpose.
 */
export const testOnOwnVm = test.extend('ownVm', { scope: 'file' }, () => true);

/** Skips the case, with the reason in the report, when the kernel is older than `min`. */
export function requireKernel(ctx: { skip: (condition: boolean, note?: string) => void; kernel: { release: string; name: string } }, min: string, why: string): void {
  ctx.skip(!kernelAtLeast(ctx.kernel.release, min), `needs kernel ≥ ${min} (${why}); ${ctx.kernel.name} is ${ctx.kernel.release}`);
}
