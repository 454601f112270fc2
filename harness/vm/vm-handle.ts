import type { KernelImage } from '../kernels/unpack.ts';
import type { Guest } from '../guest/guest.ts';
import type { CaseWatch } from './case-watch.ts';

/**
 * What a scenario sees of a booted VM, whether it started it itself
 * ({@link Vm}) or leased it from the run's pool (a `LeasedVm`): the kernel,
 * a guest session, the console log, and the VM's death.
 */
export interface VmHandle {
  readonly kernel: KernelImage;
  readonly guest: Guest;
  readonly consoleLogPath: string;
  /** Milliseconds the VM took from start to SSH ready. */
  readonly bootMs: number;
  /** Aborts when the VM dies, with a `VmDiedError` as the reason. */
  readonly lost: AbortSignal;
  /** Throws the VM's death, if it died. */
  assertAlive(): void;
  /** Starts watching one case's kernel log (see {@link CaseWatch}). */
  watchCase(name: string): Promise<CaseWatch>;
}
