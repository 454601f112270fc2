import { rmSync } from 'node:fs';
import { settlesWithin } from '../util/time.ts';

/**
 * Keeps track of every VM's process group and temp dir, so that nothing is
 * left behind: not when a VM stops, not when the process exits or is
 * interrupted while VMs are still up.
 */
export interface VmEntry {
  /** vng's pid, which leads the process group QEMU and virtiofsd join; 0 until spawned. */
  pid: number;
  tmp: string;
}

/** Every live VM's process group, so an exiting process can still kill them all. */
const live = new Set<VmEntry>();
process.once('exit', () => {
  for (const { pid, tmp } of live) {
    try {
      if (pid > 0) process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(tmp, { recursive: true, force: true });
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
}

export function track(entry: VmEntry): void {
  live.add(entry);
}

export function forget(entry: VmEntry): void {
  live.delete(entry);
}

export interface VngProcess {
  pid: number;
  /** Resolves with the exit code or signal once vng is gone. */
  exited: Promise<number | string>;
}

/** SIGTERM, then SIGKILL, to the whole process group, until it is gone. */
export async function killGroup(proc: VngProcess, entry: VmEntry): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(-entry.pid, signal);
    } catch {
      break; // the group is gone
    }
    const gone = await settlesWithin(proc.exited, 3_000);
    if (gone && !groupAlive(entry.pid)) break;
  }
  forget(entry);
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
