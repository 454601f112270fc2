import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/** What really happened, as the guest itself saw it, one entry per exec. */
export type ExecTruth = {
  pid: number;
  /** The parent's tgid: the generator's shell, which forked the probe. */
  ppid: number;
  uid: number;
  gid: number;
  comm: string;
  /** The kernel's static priority: 120 + the nice value the probe ran at. */
  static_prio: number;
};

export interface ExecTrafficOptions {
  count: number;
  /** The ids the probe runs as; a uid nothing else uses keeps per-uid counts exact. */
  uid: number;
  gid: number;
  /** Nice value to run the probe at (default 0). */
  nice?: number;
}

/** The probe's name: it becomes the task's comm (at most 15 bytes). */
export const EXEC_PROBE_COMM = 'kmx-exec-probe';
const PROBE = `/tmp/kmatrix/${EXEC_PROBE_COMM}`;

/**
 * Runs a known program `count` times in the guest and records the truth.
 * The probe is a copy of coreutils' `id` under its own name: the exec the BPF
 * program sees carries that comm, and its output is the process's own view
 * of its uid and gid. `$!` is its pid: setpriv drops to the uid and execs the
 * probe in place (as does nice before it), so the pid does not change across
 * those execs and its parent is this shell (`$$`). Only the probe's exec
 * happens under that uid (nice and setpriv run as root), so the per-uid count
 * must grow by exactly `count`.
 */
export async function generateExecs(guest: Guest, options: ExecTrafficOptions): Promise<ExecTruth[]> {
  const script = `
set -eu
mkdir -p /tmp/kmatrix && chmod 755 /tmp/kmatrix
cp "$(command -v id)" ${PROBE} && chmod 755 ${PROBE}
i=0
while [ "$i" -lt ${options.count} ]; do
  nice -n ${options.nice ?? 0} setpriv --reuid=${options.uid} --regid=${options.gid} --clear-groups ${PROBE} > /tmp/kmatrix/probe.out &
  pid=$!
  wait "$pid"
  echo "$pid $$ ${options.nice ?? 0} $(cat /tmp/kmatrix/probe.out)"
  i=$((i + 1))
done`;
  return parseExecTruth(await runGuestScript(guest, 'exec generator', script, { timeout: 120_000 }));
}

/** Parses the generator's lines: `PID PPID NICE uid=U(name) gid=G(name) groups=…`. */
export function parseExecTruth(stdout: string): ExecTruth[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const m = /^(\d+) (\d+) (-?\d+) uid=(\d+)\S* gid=(\d+)/.exec(line);
      if (!m) throw new Error(`exec generator printed an unexpected line: ${JSON.stringify(line)}`);
      return {
        pid: Number(m[1]),
        ppid: Number(m[2]),
        static_prio: 120 + Number(m[3]),
        uid: Number(m[4]),
        gid: Number(m[5]),
        comm: EXEC_PROBE_COMM,
      };
    });
}
