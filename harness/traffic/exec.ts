import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/** What really happened, as the exec'd process itself saw it: one entry per exec of the probe. */
export type ExecTruth = {
  pid: number;
  tgid: number;
  /** The parent's pid (the generator's shell, which forked the probe). */
  ppid: number;
  /** Real uid and gid. */
  uid: number;
  gid: number;
  comm: string;
  /** The kernel's static priority: 120 + nice for a normal task. */
  static_prio: number;
};

export interface ExecTrafficOptions {
  count: number;
  /**
   * The ids the probe runs as (through setpriv); a uid nothing else uses
   * keeps per-uid counts exact. Without them the probe runs as root.
   */
  ids?: { uid: number; gid: number };
  /** Nice value to run the probe at (through nice); none: not reniced. */
  nice?: number;
  /**
   * Run the probe under SCHED_RR at this priority (through chrt). Its
   * static priority still follows its nice value, while its normal and
   * effective priorities become 99 - this: a program that reads one of
   * those instead of static_prio then reads a different number.
   */
  realtime?: number;
}

/** The probe's name: it becomes the task's comm (at most 15 bytes). */
export const EXEC_PROBE_COMM = 'kmx-exec-probe';
const PROBE = `/tmp/kmatrix/${EXEC_PROBE_COMM}`;

/**
 * Runs a known program `count` times in the guest and records what each
 * run really was, from the process itself: the probe is a copy of `cat`
 * under its own name, and what it prints is its own /proc/self/stat and
 * /proc/self/status, read after the exec the BPF programs see. So pid, tgid,
 * parent, ids, comm and priority are the kernel's own account of the
 * process, not what the generator asked for.
 *
 * nice, chrt and setpriv exec in place (same pid), so with them one probe
 * pid goes through several execs; only the last has the probe's comm, and
 * only it runs under `ids.uid`.
 */
export async function generateExecs(guest: Guest, options: ExecTrafficOptions): Promise<ExecTruth[]> {
  const prefix = [
    ...(options.nice === undefined ? [] : [`nice -n ${options.nice}`]),
    ...(options.realtime === undefined ? [] : [`chrt --rr ${options.realtime}`]),
    ...(options.ids ? [`setpriv --reuid=${options.ids.uid} --regid=${options.ids.gid} --clear-groups`] : []),
  ].join(' ');
  const script = `
set -eu
mkdir -p /tmp/kmatrix && chmod 755 /tmp/kmatrix
cp "$(command -v cat)" ${PROBE} && chmod 755 ${PROBE}
i=0
while [ "$i" -lt ${options.count} ]; do
  ${prefix} ${PROBE} /proc/self/stat /proc/self/status > /tmp/kmatrix/probe.out &
  pid=$!
  wait "$pid"
  echo "run $pid"
  cat /tmp/kmatrix/probe.out
  i=$((i + 1))
done`;
  const truth = parseExecTruth(await runGuestScript(guest, 'exec generator', script, { timeout: 120_000 }));
  if (truth.length !== options.count) throw new Error(`exec generator: ${truth.length} probe runs reported, ${options.count} asked for`);
  return truth;
}

/**
 * Parses the generator's output: per run, `run PID` (the pid the shell
 * forked), then the probe's /proc/self/stat line and /proc/self/status.
 */
export function parseExecTruth(stdout: string): ExecTruth[] {
  const runs = stdout.split(/^run /m).slice(1);
  if (stdout.trim() && !stdout.startsWith('run ')) throw new Error(`exec generator printed an unexpected line: ${JSON.stringify(stdout.split('\n')[0])}`);
  return runs.map((run) => {
    const [forked, stat, ...status] = run.split('\n');
    // stat: "PID (COMM) STATE PPID …": comm may hold spaces, so split after its closing paren.
    const m = /^(\d+) \((.*)\) (\S) (.*)$/.exec(stat ?? '');
    if (!m) throw new Error(`exec generator: not a /proc/self/stat line: ${JSON.stringify(stat)}`);
    const [, pid, comm, , rest] = m;
    const after = rest!.split(' '); // from field 4 (ppid) on; proc(5): nice is field 19
    const ppid = Number(after[0]);
    const nice = Number(after[15]);
    const statusField = (name: string) => {
      const line = status.find((l) => l.startsWith(`${name}:`));
      if (!line) throw new Error(`exec generator: /proc/self/status of pid ${pid} has no ${name} line`);
      return line.slice(name.length + 1).trim().split(/\s+/).map(Number);
    };
    if (Number(forked) !== Number(pid)) throw new Error(`exec generator: the shell forked ${forked}, but the probe is ${pid}`);
    return {
      pid: Number(pid),
      tgid: statusField('Tgid')[0]!,
      ppid,
      uid: statusField('Uid')[0]!, // real, effective, saved, fs: the first is the real one
      gid: statusField('Gid')[0]!,
      comm: comm!,
      // The kernel reports nice as static_prio - 120 (PRIO_TO_NICE), for
      // every scheduling policy; stat's priority field is prio, which an RT
      // policy or a priority boost changes.
      static_prio: 120 + nice,
    };
  });
}
