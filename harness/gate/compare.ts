import type { MatrixReport } from '../report/matrix.ts';
import type { ProgramFigures } from '../report/figures.ts';
import { compareKernelNames, type Baseline, type BaselineProgram } from './baseline.ts';
import { classOf, isKnownStatus } from './verdicts.ts';

export type FlakyPolicy = 'block' | 'allow';

export interface GateOptions {
  /** Percent growth of verified instructions or states beyond which a program blocks (default 10). */
  threshold: number;
  flaky: FlakyPolicy;
  /** Explicit narrowing (`--kernel`): only these kernels of the baseline are expected in the run. */
  kernels?: string[];
  /** Explicit narrowing (`--scenario`): only these scenarios' cells, and the programs they load, are compared. */
  scenarios?: string[];
}

export const GATE_DEFAULTS = { threshold: 10, flaky: 'block' } as const satisfies Pick<GateOptions, 'threshold' | 'flaky'>;

/** One thing the gate found: about a kernel, a cell (scenario) or a program on a kernel. */
export interface Finding {
  kernel: string;
  /** `scenario` (a cell), `object/program`, or undefined for the kernel itself. */
  subject?: string;
  kind: 'kernel' | 'cell' | 'program';
  change: string;
  /** For verifier growth: the figure, before, after and the growth in percent. */
  figure?: { name: VerifierMetric; before: number; after: number; growthPct: number };
}

export interface GateResult {
  blocking: Finding[];
  improvements: Finding[];
  notes: Finding[];
  /** Kernels compared (of the baseline, and in the run); those of the baseline left out by `--kernel`. */
  compared: string[];
  leftOut: string[];
  options: GateOptions;
  /**
   * When kernels or cells of the baseline had no result: what the run did
   * cover, for the explicit narrowing that gates a partial run.
   */
  partial?: { kernels: string[]; scenarios: string[] };
}

export type VerifierMetric = 'verifiedInsns' | 'totalStates' | 'peakStates';

/** The figures the gate weighs, and their names in its output. */
export const METRICS: readonly [VerifierMetric, string][] = [
  ['verifiedInsns', 'verified instructions'],
  ['totalStates', 'states (total)'],
  ['peakStates', 'states (peak)'],
];

const RESAVE_HINT = 'if intended, save the baseline again';

/**
 * Compares a run with the baseline. What blocks:
 *
 * - a kernel of the baseline missing from the run (unless `--kernel` left it out);
 * - a cell that had a verdict (pass, or an expected failure) and now fails,
 *   skips, or has no result at all; a pass that became an expected failure;
 *   a new cell that fails; a flaky cell (unless `--flaky allow`);
 * - a program that loaded and now fails to load, a new program that fails
 *   to load, and a program of the baseline the run did not load at all on a
 *   kernel it ran (removed, renamed, or its scenario stopped loading it: the
 *   gate cannot tell, and a program that silently drops out of the run is
 *   exactly what it must not wave through);
 * - verified instructions or states grown by more than the threshold.
 *
 * Improvements (fail → pass, newly loads, fewer instructions or states)
 * and notes (new kernels, scenarios and programs, growth within the
 * threshold, known failures) never block.
 */
export function compareWithBaseline(baseline: Baseline, report: MatrixReport, options: GateOptions): GateResult {
  const result: GateResult = { blocking: [], improvements: [], notes: [], compared: [], leftOut: [], options };
  const block = (f: Finding) => result.blocking.push(f);
  const improve = (f: Finding) => result.improvements.push(f);
  const note = (f: Finding) => result.notes.push(f);

  const baseKernels = Object.keys(baseline.kernels).sort(compareKernelNames);
  const runKernels = [...new Set([...report.kernels, ...report.cells.map((c) => c.kernel), ...Object.keys(report.figures)])].sort(compareKernelNames);
  const narrowed = options.kernels;
  const inScope = (kernel: string) => !narrowed || narrowed.includes(kernel);
  const scenarioInScope = (scenario: string) => !options.scenarios || options.scenarios.includes(scenario);
  const programInScope = (scenarios: string[]) => !options.scenarios || scenarios.some(scenarioInScope);

  let missing = false;
  for (const kernel of narrowed ?? []) {
    if (!baseline.kernels[kernel]) note({ kernel, kind: 'kernel', change: 'named by --kernel but not in the baseline: nothing to compare it with' });
  }
  for (const kernel of baseKernels) {
    if (!inScope(kernel)) {
      result.leftOut.push(kernel);
      continue;
    }
    if (!runKernels.includes(kernel)) {
      block({ kernel, kind: 'kernel', change: 'in the baseline, missing from the run (run it, or narrow the gate explicitly with --kernel)' });
      missing = true;
      continue;
    }
    result.compared.push(kernel);
    const base = baseline.kernels[kernel]!;
    const ran = new Set(report.cells.filter((c) => c.kernel === kernel).map((c) => c.scenario));
    // A program whose every scenario has no result on this kernel is told with that cell, not on its own.
    const unrun = (scenarios: string[]) => scenarios.length > 0 && scenarios.every((s) => !ran.has(s));
    const programsOf = (scenario: string) => Object.keys(base.programs).filter((key) => base.programs[key]!.scenarios.includes(scenario) && unrun(base.programs[key]!.scenarios));
    if (compareCells(kernel, base.cells, report, options, scenarioInScope, programsOf, { block, improve, note })) missing = true;
    comparePrograms(kernel, base.programs, report.figures[kernel] ?? {}, options, (scenarios) => programInScope(scenarios) && !unrun(scenarios), { block, improve, note });
  }
  if (missing) result.partial = { kernels: runKernels.filter(inScope), scenarios: [...new Set(report.cells.map((c) => c.scenario))].filter(scenarioInScope).sort() };
  for (const kernel of runKernels) {
    if (baseline.kernels[kernel] || !inScope(kernel)) continue;
    note({ kernel, kind: 'kernel', change: 'in the run, not in the baseline: not gated (save the baseline again to gate it)' });
  }
  return result;
}

interface Sinks {
  block: (f: Finding) => void;
  improve: (f: Finding) => void;
  note: (f: Finding) => void;
}

/** Judges a kernel's cells; true when a cell of the baseline had no result. */
function compareCells(
  kernel: string,
  base: Record<string, string>,
  report: MatrixReport,
  options: GateOptions,
  inScope: (s: string) => boolean,
  programsOf: (scenario: string) => string[],
  sink: Sinks,
): boolean {
  let missing = false;
  const run = new Map(report.cells.filter((c) => c.kernel === kernel).map((c) => [c.scenario, c]));
  for (const [scenario, before] of Object.entries(base).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!inScope(scenario)) continue;
    const cell = run.get(scenario);
    const at = { kernel, subject: scenario, kind: 'cell' as const };
    if (!cell) {
      missing = true;
      const programs = programsOf(scenario);
      const its = programs.length ? `; nor its program${programs.length > 1 ? 's' : ''} ${programs.join(', ')}` : '';
      if (classOf(before) === 'verdict') sink.block({ ...at, change: `${before} in the baseline, no result in the run${its} (removed, renamed or not run: narrow with --scenario, or ${RESAVE_HINT})` });
      else sink.note({ ...at, change: `${before} in the baseline, no result in the run${its}` });
      continue;
    }
    judgeCell(before, cell.status, cell.reason, options, at, sink);
  }
  for (const [scenario, cell] of run) {
    if (scenario in base || !inScope(scenario)) continue;
    judgeCell(undefined, cell.status, cell.reason, options, { kernel, subject: scenario, kind: 'cell' }, sink);
  }
  return missing;
}

/** One cell's move from the baseline's status (undefined: a new cell) to the run's. */
function judgeCell(before: string | undefined, after: string, reason: string | undefined, options: GateOptions, at: Omit<Finding, 'change'>, sink: Sinks): void {
  const why = reason ? `: ${firstLine(reason)}` : '';
  const from = before ?? 'new';
  const move = `${from} → ${after}`;
  if (!isKnownStatus(after)) {
    sink.block({ ...at, change: `${move}: a status the gate does not know, taken as a failure${why}` });
    return;
  }
  const was = before === undefined ? undefined : classOf(before);
  switch (classOf(after)) {
    case 'flaky':
      if (options.flaky === 'block') sink.block({ ...at, change: `${move}: passed only on a retry (let it through with --flaky allow)${why}` });
      else sink.note({ ...at, change: `${move}: passed only on a retry, allowed by --flaky allow${why}` });
      return;
    case 'failure':
      if (was === 'failure') sink.note({ ...at, change: `still fails, as in the baseline${why}` });
      else sink.block({ ...at, change: `${move}${why}` });
      return;
    case 'none':
      if (was === 'verdict' || was === 'flaky') sink.block({ ...at, change: `${move}: it proves nothing any more${why}` });
      else if (was === 'failure') sink.note({ ...at, change: `${move}: no longer fails, but proves nothing${why}` });
      else if (was === undefined) sink.note({ ...at, change: `${move}: not in the baseline${why}` });
      return;
    case 'verdict':
      if (before === after) return;
      if (before === 'pass' && after === 'xfail') sink.block({ ...at, change: `${move}: passed in the baseline, now fails (as its scenario foresees on some kernels)${why}` });
      else if (was === undefined) sink.note({ ...at, change: `${move}: not in the baseline` });
      else sink.improve({ ...at, change: move });
      return;
  }
}

function comparePrograms(
  kernel: string,
  base: Record<string, BaselineProgram>,
  run: Record<string, ProgramFigures>,
  options: GateOptions,
  inScope: (scenarios: string[]) => boolean,
  sink: Sinks,
): void {
  for (const [key, before] of Object.entries(base).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!inScope(before.scenarios)) continue;
    const after = run[key];
    const at = { kernel, subject: key, kind: 'program' as const };
    if (!after) {
      sink.block({ ...at, change: `${describeOutcome(before)} in the baseline, not loaded at all in the run (removed, renamed, or its scenario no longer loads it: ${RESAVE_HINT})` });
      continue;
    }
    if (before.outcome === 'loaded' && after.outcome === 'failed') {
      sink.block({ ...at, change: `loaded in the baseline, now fails to load${after.failedAt ? ` (at ${after.failedAt})` : ''}` });
      continue;
    }
    if (before.outcome === 'failed' && after.outcome === 'loaded') {
      sink.improve({ ...at, change: `newly loads (failed${before.failedAt ? ` at ${before.failedAt}` : ''} in the baseline)` });
      continue;
    }
    if (before.outcome === 'failed') {
      // Both refused: the figures are how far the verifier got, not a cost to weigh.
      if (before.failedAt !== after.failedAt) sink.note({ ...at, change: `still fails to load, now at ${after.failedAt ?? '?'} (at ${before.failedAt ?? '?'} in the baseline)` });
      continue;
    }
    for (const [metric, name] of METRICS) {
      const [b, a] = [before[metric], after[metric]];
      if (b === undefined) continue;
      if (a === undefined) {
        sink.note({ ...at, change: `${name}: ${b} in the baseline, not reported by the run` });
        continue;
      }
      if (a === b) continue;
      const growthPct = b === 0 ? Number.POSITIVE_INFINITY : ((a - b) / b) * 100;
      const finding = { ...at, figure: { name: metric, before: b, after: a, growthPct } };
      const text = `${name} ${b} → ${a} (${formatPct(growthPct)})`;
      if (growthPct > options.threshold) sink.block({ ...finding, change: `${text}, more than the ${options.threshold} % allowed` });
      else if (a < b) sink.improve({ ...finding, change: text });
      else sink.note({ ...finding, change: `${text}, within the ${options.threshold} % allowed` });
    }
  }
  for (const [key, after] of Object.entries(run).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (key in base || !inScope(after.scenarios)) continue;
    const at = { kernel, subject: key, kind: 'program' as const };
    if (after.outcome === 'failed') sink.block({ ...at, change: `new, and fails to load${after.failedAt ? ` (at ${after.failedAt})` : ''} (${RESAVE_HINT})` });
    else sink.note({ ...at, change: `new, loads${after.verifiedInsns !== undefined ? ` (${after.verifiedInsns} verified instructions)` : ''}: not in the baseline` });
  }
}

function describeOutcome(p: BaselineProgram): string {
  return p.outcome === 'loaded' ? 'loaded' : `failed${p.failedAt ? ` at ${p.failedAt}` : ''}`;
}

export function formatPct(pct: number): string {
  if (!Number.isFinite(pct)) return 'from 0';
  return `${pct >= 0 ? '+' : '−'}${Math.abs(pct).toFixed(1)} %`;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0]!.trim();
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}
