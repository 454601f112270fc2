/** Where a scenario's time goes, in milliseconds. */
export interface Phases {
  /** Waiting for the kernel's VM: another file's turn on it, or its boot (from the pool's lease records). */
  vmWait: number;
  /** From starting the loader to its programs being loaded: process start, the object's load, the verifier. */
  loadVerify: number;
  /** Attaching the programs. */
  attach: number;
  /** From `ready` to `stop()`: the generators acting in the guest. */
  traffic: number;
  /** `stop()`: detach, drain every buffer, dump the maps, exit. */
  drain: number;
  /** After the loader stopped: comparing with the truth, and the kernel log's check. */
  checks: number;
  /** The rest of the cases: guest commands of their own before the loader, the kernel log's marker. */
  other: number;
  /** Resetting the VM after the file (from the pool's lease records). */
  reset: number;
}

export const PHASE_NAMES: Record<keyof Phases, string> = {
  vmWait: 'VM wait',
  loadVerify: 'load/verify',
  attach: 'attach',
  traffic: 'traffic',
  drain: 'drain',
  checks: 'checks',
  other: 'other',
  reset: 'reset',
};

/** One loader session's moments (ms, performance.now()) and the loader's own timings. */
export interface LoaderTimeline {
  startedAt: number;
  readyAt: number;
  stopCalledAt?: number;
  stoppedAt?: number;
  /** From the loader's `ready` line, when it reports them. */
  attachMs?: number;
}

export function emptyPhases(): Phases {
  return { vmWait: 0, loadVerify: 0, attach: 0, traffic: 0, drain: 0, checks: 0, other: 0, reset: 0 };
}

/**
 * A case's phases from its loader sessions, between the case's start and end.
 * Several sessions add up; time outside every session is `other`, except
 * what follows the last stop, which is `checks`.
 */
export function casePhases(caseStart: number, caseEnd: number, sessions: LoaderTimeline[]): Phases {
  const phases = emptyPhases();
  let lastStop: number | undefined;
  for (const s of sessions) {
    const attach = Math.min(s.attachMs ?? 0, s.readyAt - s.startedAt);
    phases.attach += attach;
    phases.loadVerify += s.readyAt - s.startedAt - attach;
    const stopped = s.stoppedAt ?? caseEnd;
    const stopCalled = s.stopCalledAt ?? stopped;
    phases.traffic += stopCalled - s.readyAt;
    phases.drain += stopped - stopCalled;
    lastStop = Math.max(lastStop ?? 0, stopped);
  }
  if (lastStop !== undefined) phases.checks = Math.max(0, caseEnd - lastStop);
  const accounted = Object.values(phases).reduce((a, b) => a + b, 0);
  phases.other = Math.max(0, caseEnd - caseStart - accounted);
  for (const key of Object.keys(phases) as (keyof Phases)[]) phases[key] = Math.round(phases[key]);
  return phases;
}

export function addPhases(a: Phases, b: Phases): Phases {
  const sum = emptyPhases();
  for (const key of Object.keys(sum) as (keyof Phases)[]) sum[key] = a[key] + b[key];
  return sum;
}

/** "traffic 3.1 s, load/verify 1.2 s, …", largest first, zero phases left out. */
export function describePhases(phases: Phases): string {
  return (Object.entries(phases) as [keyof Phases, number][])
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([key, ms]) => `${PHASE_NAMES[key]} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
}
