import { dirname } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildAll, prebuiltArtifacts, type Artifacts } from '../build/index.ts';
import { fetchKernels } from '../kernels/fetch-all.ts';
import { readLock, selectKernels } from '../kernels/lock.ts';
import type { KernelImage } from '../kernels/unpack.ts';
import { AccelSetting, chooseAccel, type Accel } from '../vm/accel.ts';
import { cacheDir, userRoot } from '../util/paths.ts';
import { loadConfig } from '../config/load.ts';
import { joinPool } from '../pool/run-pool.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kernelName: string;
    kernelImage: KernelImage;
    artifacts: Artifacts;
    accel: Accel;
    /** The run's VM broker (harness/pool), where a file leases its VM. */
    vmBroker: string;
    /** The retry pass: every file on a VM booted for it (harness/scenario/retry.ts). */
    freshVm?: boolean;
  }
}

// Global set-ups of all kernel projects run in one process, but each project
// loads this module anew: the flag lives on the process, so that a missing
// KVM is reported once per run, not once per kernel.
const WARNED = Symbol.for('kmatrix.accel-warned');
// The same goes for the build: one per run, whichever project asks first.
const BUILT = Symbol.for('kmatrix.build');
const flags = globalThis as { [WARNED]?: boolean; [BUILT]?: Promise<Artifacts> };

/**
 * Runs once per kernel project before its scenarios: builds the crates (cargo
 * is incremental and locks its target dir, so concurrent projects are safe),
 * fetches this project's kernel into the cache and joins the run's VM pool,
 * which boots this kernel's VM when its first file asks. The returned
 * teardown leaves the pool; the last project to leave stops the VMs.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const name = project.getProvidedContext().kernelName;
  const config = await loadConfig(userRoot());
  const [kernel] = selectKernels(await readLock(config.kernels.lock), name);
  // CI builds once and hands the result to each kernel's job.
  const prebuilt = process.env.KMATRIX_PREBUILT;
  const artifacts = await (flags[BUILT] ??= prebuilt ? prebuiltArtifacts(prebuilt) : buildAll(config));
  const images = await fetchKernels([kernel!], dirname(config.kernels.lock));
  const image = images.get(name)!;
  const accel = await chooseAccel(AccelSetting.parse(process.env.KMATRIX_ACCEL ?? 'auto'), image.vmlinuz, cacheDir(), (msg) => {
    if (!flags[WARNED]) console.warn(msg);
    flags[WARNED] = true;
  });
  project.provide('artifacts', artifacts);
  project.provide('kernelImage', image);
  project.provide('accel', accel);
  // As many files at once as vitest has workers (matrixOptions).
  const pool = await joinPool(image, accel, artifacts, config.vm, project.globalConfig.maxWorkers);
  project.provide('vmBroker', pool.broker.socketPath);
  return pool.leave;
}
