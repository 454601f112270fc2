import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import type { KernelImage } from '../kernels/unpack.ts';
import { Vm } from '../vm/vm.ts';
import type { Accel } from '../vm/accel.ts';
import { cacheDir, runDir } from '../util/paths.ts';
import { VmBroker } from './broker.ts';
import { currentAttempt } from '../scenario/retry.ts';

/** A VM's size, from the project's config (`vm`). */
export interface VmSize {
  memoryMiB: number;
  cpus: number;
}

/** VMs the host's memory holds: each VM's memory, with as much again for the host. */
function memoryBound(vm: VmSize): number {
  return Math.max(1, Math.floor(totalmem() / 2 ** 20 / (2 * vm.memoryMiB)));
}

/**
 * Files at once, each on a VM, over all kernels: as many as the host has
 * cores and memory for, or KMATRIX_MAX_VMS. vitest runs as many workers,
 * so that every worker can hold a VM.
 */
export function vmCapacity(vm: VmSize, env: NodeJS.ProcessEnv = process.env): number {
  return Number(env.KMATRIX_MAX_VMS) || Math.max(1, Math.min(availableParallelism(), memoryBound(vm)));
}

/**
 * How QEMU runs the pool's VMs under software emulation: when the files at
 * once have more vCPUs than the host has cores, one host thread per VM
 * rather than per vCPU. The guest still has every vCPU (per-CPU maps stay
 * per-CPU), but the threads no longer contend for the cores: on 2 cores,
 * 2 VMs of 2 vCPUs ran the 70 files of the matrix in 182 s and 294
 * CPU-seconds with one thread each, against 237 s and 395 with two. A VM
 * alone (the bench) boots faster with a thread per vCPU: 4.2 s against 4.6.
 */
export function tcgThreads(capacity: number, vm: VmSize): 'multi' | 'single' {
  return capacity * vm.cpus > availableParallelism() ? 'single' : 'multi';
}

/**
 * VMs up at once, busy or idle: as many as memory holds. A kernel whose
 * files the sequencer split between two lanes keeps its VM, idle, until
 * its second part; rebooting it would cost more than the idle VM does.
 */
export function vmRoom(capacity: number, vm: VmSize): number {
  return Math.max(capacity, memoryBound(vm));
}

interface PoolRegistry {
  kernels: Map<string, { image: KernelImage; accel: Accel }>;
  /** The sequencer's plan: files per kernel. */
  plan: Map<string, number>;
  loader?: string;
  agent?: string;
  fastboot?: string;
  broker?: Promise<VmBroker>;
  users: number;
}

// vitest loads the global set-up once per kernel project, and the sequencer
// apart from it, all in its main process: the pool lives on the process.
const KEY = Symbol.for('kmatrix.vm-pool');
const holder = globalThis as { [KEY]?: PoolRegistry };
const registry: PoolRegistry = (holder[KEY] ??= { kernels: new Map(), plan: new Map(), users: 0 });

/** The sequencer's word on how many files of each kernel will run. */
export function planFiles(plan: Map<string, number>): void {
  for (const [kernel, count] of plan) registry.plan.set(kernel, count);
  // vitest runs the global set-ups (which start the pool) before it sorts
  // the files: the pool, started by then, learns the plan here, before any
  // worker asks for a VM.
  void registry.broker?.then((broker) => {
    for (const [kernel, count] of plan) broker.expectFiles(kernel, count);
  });
}

/**
 * Joins the run's VM pool for one kernel (the global set-up of its project)
 * and returns the pool, started on first use, and a function to leave it:
 * the last to leave stops every VM. `capacity`: files at once, vitest's
 * workers (see matrixOptions).
 */
export async function joinPool(
  kernel: KernelImage,
  accel: Accel,
  guestTools: { loader: string; agent: string; fastboot: string },
  vm: VmSize,
  capacity: number,
): Promise<{ broker: VmBroker; leave: () => Promise<void> }> {
  registry.kernels.set(kernel.name, { image: kernel, accel });
  registry.loader = guestTools.loader;
  registry.agent = guestTools.agent;
  registry.fastboot = guestTools.fastboot;
  registry.users++;
  registry.broker ??= VmBroker.start({
    capacity,
    room: vmRoom(capacity, vm),
    loader: () => registry.loader!,
    // The retry pass shares the run's directory: its VMs' consoles must not overwrite the first pass's.
    idPrefix: currentAttempt() === 'retry' ? 'retry-' : '',
    boot: (name, label) => {
      const entry = registry.kernels.get(name);
      if (!entry) throw new Error(`no kernel ${name} in this run (known: ${[...registry.kernels.keys()].join(', ')})`);
      return Vm.start(entry.image, {
        accel: entry.accel,
        cacheRoot: cacheDir(),
        consoleLogPath: join(runDir(), 'consoles', `${label}.log`),
        bootTimeoutMs: Number(process.env.KMATRIX_BOOT_TIMEOUT_MS) || undefined,
        agent: registry.agent,
        fastboot: registry.fastboot,
        memoryMiB: vm.memoryMiB,
        cpus: vm.cpus,
        tcgThreads: tcgThreads(capacity, vm),
      });
    },
  });
  const broker = await registry.broker;
  for (const [name, count] of registry.plan) broker.expectFiles(name, count);
  let left = false;
  return {
    broker,
    leave: async () => {
      if (left) return;
      left = true;
      if (--registry.users > 0) return;
      registry.broker = undefined;
      await broker.close();
    },
  };
}

/** The running pool, if any: the reporter reads its boots and leases. */
export async function currentPool(): Promise<VmBroker | undefined> {
  return registry.broker;
}
