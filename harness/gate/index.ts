// `kmatrix baseline save` and `kmatrix gate`: the files they read and write, around the pure logic
// of baseline.ts (the file), compare.ts (the rules) and render.ts (the Markdown).
import { appendFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { readLock } from '../kernels/lock.ts';
import type { ResolvedConfig } from '../config/load.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { outDir } from '../util/paths.ts';
import { GateInputError, baselineOf, checkBaselineAgainstLock, formatBaseline, readBaseline, readReport } from './baseline.ts';
import { compareWithBaseline, type FlakyPolicy } from './compare.ts';
import { renderGate } from './render.ts';

export { GateInputError } from './baseline.ts';

export function defaultReportPath(): string {
  return join(outDir(), 'report', 'matrix.json');
}

/** A path as the user reads it: relative to the current directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

async function lockKernels(config: ResolvedConfig): Promise<{ names: string[]; releases: Record<string, string> }> {
  const lock = await readLock(config.kernels.lock).catch((err: Error) => {
    throw new GateInputError(`${shown(config.kernels.lock)}: ${err.message}`);
  });
  return { names: lock.kernels.map((k) => k.name), releases: Object.fromEntries(lock.kernels.map((k) => [k.name, k.release])) };
}

export async function saveBaseline(config: ResolvedConfig, options: { report?: string; out?: string }): Promise<number> {
  const reportPath = options.report ?? defaultReportPath();
  const outPath = options.out ?? config.baseline;
  const report = await readReport(reportPath);
  const lock = await lockKernels(config);
  const unknown = report.kernels.filter((k) => !lock.names.includes(k));
  if (unknown.length) throw new GateInputError(`${shown(reportPath)} has kernel${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}, which ${shown(config.kernels.lock)} does not: a report of another lock`);
  const baseline = baselineOf(report, { source: 'a run\'s matrix.json', releases: lock.releases });
  await writeFileAtomic(outPath, formatBaseline(baseline));
  const kernels = Object.keys(baseline.kernels);
  const cells = Object.values(baseline.kernels).flatMap((k) => Object.values(k.cells));
  const programs = Object.values(baseline.kernels).reduce((n, k) => n + Object.keys(k.programs).length, 0);
  console.log(`wrote ${shown(outPath)}: ${kernels.length} kernels (${kernels.join(', ')}), ${cells.length} cells, ${programs} kernel × program figures`);
  const missing = lock.names.filter((k) => !kernels.includes(k));
  if (missing.length) console.error(`baseline save: the run had no ${missing.join(', ')}: the gate will not compare ${missing.length > 1 ? 'them' : 'it'} (save from a run of every kernel to cover the lock)`);
  const bad = Object.entries(baseline.kernels).flatMap(([kernel, k]) => Object.entries(k.cells).filter(([, s]) => s === 'fail' || s === 'flaky').map(([scenario, s]) => `${scenario} on ${kernel} (${s})`));
  if (bad.length) console.error(`baseline save: the baseline accepts ${bad.length} failing cell${bad.length > 1 ? 's' : ''}: ${bad.join(', ')}; review before committing it`);
  return 0;
}

export interface GateCliOptions {
  report?: string;
  baseline?: string;
  threshold?: string;
  flaky?: string;
  kernels?: string;
  scenarios?: string;
}

/** Exit status: 0 nothing blocks, 1 something does; a {@link GateInputError} (the caller's 2) for bad input. */
export async function runGate(config: ResolvedConfig, cli: GateCliOptions): Promise<number> {
  const reportPath = cli.report ?? defaultReportPath();
  const baselinePath = cli.baseline ?? config.baseline;
  const threshold = cli.threshold === undefined ? config.gate.threshold : Number(cli.threshold.replace(/%$/, ''));
  if (!Number.isFinite(threshold) || threshold < 0) throw new GateInputError(`--threshold ${cli.threshold}: give a percentage, 0 or more (e.g. --threshold 10)`);
  const flaky = (cli.flaky ?? config.gate.flaky) as FlakyPolicy;
  if (flaky !== 'block' && flaky !== 'allow') throw new GateInputError(`--flaky ${cli.flaky}: give block or allow`);
  const list = (text: string | undefined) => text?.split(',').map((s) => s.trim()).filter(Boolean);
  const kernels = list(cli.kernels);
  const scenarios = list(cli.scenarios);

  const lock = await lockKernels(config);
  const baseline = await readBaseline(baselinePath);
  checkBaselineAgainstLock(shown(baselinePath), baseline, lock.names, shown(config.kernels.lock));
  const unknownKernels = (kernels ?? []).filter((k) => !lock.names.includes(k));
  if (unknownKernels.length) throw new GateInputError(`--kernel: ${unknownKernels.join(', ')} not in ${shown(config.kernels.lock)} (it has ${lock.names.join(', ')})`);
  const report = await readReport(reportPath);

  const result = compareWithBaseline(baseline, report, { threshold, flaky, kernels, scenarios });
  for (const kernel of result.compared) {
    const saved = baseline.kernels[kernel]?.release;
    const now = lock.releases[kernel];
    if (saved && now && saved !== now) {
      result.notes.unshift({ kernel, kind: 'kernel', change: `the baseline was saved on ${saved}, the lock now has ${now}: verifier figures may move with the kernel (save the baseline again once reviewed)` });
    }
  }
  const markdown = renderGate(result, { report: shown(reportPath), baseline: shown(baselinePath) });
  console.log(markdown);
  if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, `${markdown}\n`);
  return result.blocking.length ? 1 : 0;
}
