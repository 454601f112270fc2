import * as z from 'zod';
import { ErrorStage, VerifierFigures, type ErrorLine, type ReadyLine, type StatsLine } from '../loader/protocol.ts';

/**
 * Per kernel × program figures: whether the program loaded (or the stage
 * that refused it), what the verifier spent on it, how long its load took,
 * and how often and how long it ran during the cases. A program is an
 * object file and a program in it (`exec/sched_process_exec`), so the same
 * program name in two objects stays apart.
 *
 * They travel from a case to the reporter as `task.meta.figures` (one
 * {@link ProgramFigures} per program the case's loaders loaded, `loads: 1`
 * each), and the reporter adds up a kernel's observations of a program
 * with {@link combineFigures}. In matrix.json they are `figures[kernel][key]`
 * with `key` from {@link programKey}, a stable shape to compare runs by.
 */
export const ProgramFigures = z.strictObject({
  object: z.string(),
  program: z.string(),
  /** `loaded` once any load of it on the kernel got to `ready`; else `failed`, at `failedAt`. */
  outcome: z.enum(['loaded', 'failed']),
  failedAt: ErrorStage.optional(),
  ...VerifierFigures.shape,
  /** Runs counted by BPF statistics while its loaders held it, added up over the loads. */
  runCount: z.number().int().nonnegative().optional(),
  runTimeNs: z.number().int().nonnegative().optional(),
  /** Why there are no run figures (BPF_ENABLE_STATS refused), when there are none. */
  runsOff: z.string().optional(),
  /** Loads that got to `ready`, and those that failed. */
  loads: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
  /** The scenarios that loaded it. */
  scenarios: z.array(z.string()),
});
export type ProgramFigures = z.infer<typeof ProgramFigures>;

/** kernel → program key → figures. */
export const FiguresByKernel = z.record(z.string(), z.record(z.string(), ProgramFigures));
export type FiguresByKernel = z.infer<typeof FiguresByKernel>;

export function programKey(f: Pick<ProgramFigures, 'object' | 'program'>): string {
  return `${f.object}/${f.program}`;
}

/** What one loader session reported of its programs: verifier figures from `ready`, runs from `stats`. */
export function figuresOfSession(object: string, ready: ReadyLine, stats: StatsLine | undefined): ProgramFigures[] {
  return Object.entries(ready.verifier ?? {}).map(([program, verifier]) => {
    const runs = stats?.runs;
    const counted = runs?.enabled ? runs.programs[program] : undefined;
    return {
      object,
      program,
      outcome: 'loaded',
      ...verifier,
      ...(counted ? { runCount: Number(counted.runCount), runTimeNs: Number(counted.runTimeNs) } : {}),
      ...(runs && !runs.enabled ? { runsOff: runs.reason } : {}),
      loads: 1,
      failures: 0,
      scenarios: [],
    };
  });
}

/** A loader that failed about one program: its stage, and how far the verifier got. */
export function figuresOfFailure(object: string, line: ErrorLine): ProgramFigures | undefined {
  if (!line.program) return undefined;
  return { object, program: line.program, outcome: 'failed', failedAt: line.stage, ...line.verifier, loads: 0, failures: 1, scenarios: [] };
}

const VERIFIER_COUNTS = ['verifiedInsns', 'totalStates', 'peakStates', 'maxStatesPerInsn'] as const;

/**
 * Two observations of the same program on the same kernel, as one. Loads
 * that got to `ready` win over failures (a case may provoke a failure on
 * purpose, e.g. an attach point the kernel lacks). The verifier's counts
 * are the largest seen (they differ only when the loads differ: globals
 * set before load, another attach target); run figures add up.
 */
export function combineFigures(a: ProgramFigures, b: ProgramFigures): ProgramFigures {
  if (a.outcome !== b.outcome) {
    const [loaded, failed] = a.outcome === 'loaded' ? [a, b] : [b, a];
    return { ...loaded, failures: loaded.failures + failed.failures, scenarios: union(loaded.scenarios, failed.scenarios) };
  }
  const out: ProgramFigures = { ...a, loads: a.loads + b.loads, failures: a.failures + b.failures, scenarios: union(a.scenarios, b.scenarios) };
  for (const key of VERIFIER_COUNTS) {
    const max = maxDefined(a[key], b[key]);
    if (max !== undefined) out[key] = max;
  }
  // A count from the kernel beats one from a log, should a run mix them.
  if (a.insnsSource !== b.insnsSource && (a.insnsSource === 'kernel' || b.insnsSource === 'kernel')) out.insnsSource = 'kernel';
  else out.insnsSource ??= b.insnsSource;
  for (const key of ['loadMs', 'verificationUs'] as const) {
    const max = maxDefined(a[key], b[key]);
    if (max !== undefined) out[key] = max;
  }
  if (a.runCount !== undefined || b.runCount !== undefined) {
    out.runCount = (a.runCount ?? 0) + (b.runCount ?? 0);
    out.runTimeNs = (a.runTimeNs ?? 0) + (b.runTimeNs ?? 0);
    delete out.runsOff;
  } else {
    out.runsOff ??= b.runsOff;
  }
  if (a.outcome === 'failed') out.failedAt ??= b.failedAt;
  return out;
}

/** Adds a kernel's observations (from one scenario) to `into`, keyed by program. */
export function addFigures(into: FiguresByKernel, kernel: string, scenario: string, observed: ProgramFigures[]): void {
  const byProgram = (into[kernel] ??= {});
  for (const f of observed) {
    const entry = { ...f, scenarios: union(f.scenarios, [scenario]) };
    const key = programKey(f);
    const before = byProgram[key];
    byProgram[key] = before ? combineFigures(before, entry) : entry;
  }
}

/** Several reports' figures as one (merging the matrix.json of one job per kernel). */
export function mergeFigureSets(sets: FiguresByKernel[]): FiguresByKernel {
  const out: FiguresByKernel = {};
  for (const set of sets) {
    for (const [kernel, programs] of Object.entries(set)) {
      for (const f of Object.values(programs)) addFigures(out, kernel, f.scenarios[0] ?? '', [f]);
    }
  }
  return out;
}

/** Mean run time in ns, when the program ran at all. */
export function averageRunNs(f: ProgramFigures): number | undefined {
  return f.runCount && f.runTimeNs !== undefined ? f.runTimeNs / f.runCount : undefined;
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].filter(Boolean).sort();
}
