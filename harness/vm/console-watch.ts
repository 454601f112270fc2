/**
 * Reads the guest's serial console line by line and says when the kernel is
 * beyond saving. Markers follow what Aya's own VM runner stops on: a panic,
 * an RCU stall dump, a soft lockup seen twice (it repeats while it lasts).
 * A WARN splat is fatal only while booting: a boot that WARNs is not one
 * whose results we trust.
 */
export type ConsoleVerdict = { fatal: false } | { fatal: true; reason: string };

const ALWAYS_FATAL: [RegExp, string][] = [
  [/Kernel panic - not syncing/, 'kernel panic'],
  [/rcu: RCU grace-period kthread stack dump/, 'RCU stall'],
  [/BUG: unable to handle (page fault|kernel)/, 'kernel oops (BUG)'],
  [/Oops: /, 'kernel oops'],
];
const WARN = /^(\[\s*\d+\.\d+\]\s*)?WARNING: CPU: \d+ PID: \d+ at /;
const SOFT_LOCKUP = /watchdog: BUG: soft lockup/;

export class ConsoleWatch {
  #softLockups = 0;
  #booting = true;

  /** Call once the guest is up: from then on a WARN is recorded, not fatal. */
  booted(): void {
    this.#booting = false;
  }

  line(text: string): ConsoleVerdict {
    for (const [pattern, reason] of ALWAYS_FATAL) {
      if (pattern.test(text)) return { fatal: true, reason };
    }
    if (SOFT_LOCKUP.test(text) && ++this.#softLockups >= 2) return { fatal: true, reason: 'soft lockup' };
    if (this.#booting && WARN.test(text)) return { fatal: true, reason: 'kernel WARN during boot' };
    return { fatal: false };
  }
}
