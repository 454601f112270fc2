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

/**
 * Every live VM's process group, so an exiting process can still kill them
 * all. One set and one set of handlers per process: vitest loads this module
 * once per kernel project, and handlers per load would pile up.
 */
const REAPER = Symbol.for('kmatrix.reaper');
const holder = globalThis as { [REAPER]?: Set<VmEntry> };
const live = (holder[REAPER] ??= reapOnExit());

function reapOnExit(): Set<VmEntry> {
  const entries = new Set<VmEntry>();
  process.once('exit', () => {
    for (const { pid, tmp } of entries) {
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
  return entries;
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

/**
 * Removes VM temp dirs (`kmatrix-vm-<kernel>-<pid>-<random>` in `tmpRoot`)
 * whose owning process is gone. A test worker that is SIGKILLed runs no exit
 * handler; its guest still powers off by itself (the stdin FIFO's writer
 * dies with the worker, and the guest's init sees EOF), but the temp dir
 * stays until the next VM start sweeps it.
 */
export function sweepStaleTempDirs(tmpRoot: string, names: string[], isAlive: (pid: number) => boolean = pidAlive): string[] {
  const removed: string[] = [];
  for (const name of names) {
    const owner = ownerPid(name);
    if (owner === undefined || owner === process.pid || isAlive(owner)) continue;
    rmSync(`${tmpRoot}/${name}`, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The pid tmp-promise put into a VM temp dir's name, if it is one of ours. */
export function ownerPid(name: string): number | undefined {
  const m = /^kmatrix-vm-.+?-(\d+)-[A-Za-z0-9]+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
