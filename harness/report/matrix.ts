import * as z from 'zod';
import { describePhases, PHASE_NAMES, type Phases } from './phases.ts';
import { FiguresByKernel } from './figures.ts';
import { figuresMarkdown, figuresTerminal } from './figures-render.ts';

const PhasesSchema = z.strictObject({
  vmWait: z.number(), loadVerify: z.number(), attach: z.number(), traffic: z.number(), drain: z.number(), checks: z.number(), other: z.number(), reset: z.number(),
});

const OUTCOMES = ['pass', 'fail', 'skip', 'xfail'] as const;

/** One run of a cell (a file on a kernel), when it ran more than once. */
export const Attempt = z.strictObject({
  status: z.enum(OUTCOMES),
  /** The first line of its failure, or why it was skipped or expected to fail. */
  reason: z.string().optional(),
  /** Its failure in full (the first error, up to a few thousand characters). */
  message: z.string().optional(),
  durationMs: z.number(),
  /** The VM it ran on (the pool's id: a retry's starts with `retry-`), and that VM's console log. */
  vm: z.string().optional(),
  console: z.string().optional(),
});
export type Attempt = z.infer<typeof Attempt>;

/** One scenario on one kernel. */
export const Cell = z.strictObject({
  scenario: z.string(),
  kernel: z.string(),
  /**
   * `xfail`: the scenario proved something it expected to go wrong did go
   * wrong (a known-bad program caught on a kernel it does not fit): a result
   * of its own, neither a pass nor a failure.
   * `flaky`: it failed, was run again on a fresh VM and did not fail there:
   * never a pass (the config's `gate.flaky` says whether it fails the run).
   */
  status: z.enum([...OUTCOMES, 'flaky']),
  /** Why it was skipped or expected to fail, the first line of the failure, or a note on a pass. */
  reason: z.string().optional(),
  durationMs: z.number(),
  /** Where the file's time went (harness/report/phases.ts), when it ran a loader. */
  phases: PhasesSchema.optional(),
  /**
   * Each run of the cell, first first, when it ran more than once (a retry
   * after a failure); a failure's one run, with its message in full.
   */
  attempts: z.array(Attempt).optional(),
});
export type Cell = z.infer<typeof Cell>;

export const MatrixReport = z.strictObject({
  version: z.literal(1),
  kernels: z.array(z.string()),
  scenarios: z.array(z.string()),
  cells: z.array(Cell),
  /** Per kernel, byte offsets of the kernel struct fields the programs read (from each kernel's BTF). */
  offsets: z.record(z.string(), z.record(z.string(), z.number())).default({}),
  /** Per kernel, each boot of a VM for it (ms from start to SSH ready): one, unless a file broke its VM. */
  boots: z.record(z.string(), z.array(z.number())).default({}),
  /** Per kernel, per program (`object/program`): load outcome, verifier and run figures (harness/report/figures.ts). */
  figures: FiguresByKernel.default({}),
  summary: z.strictObject({ pass: z.number(), fail: z.number(), skip: z.number(), xfail: z.number().default(0), flaky: z.number().default(0) }),
});
export type MatrixReport = z.infer<typeof MatrixReport>;

export function buildMatrix(
  cells: Cell[],
  kernelOrder: string[],
  offsets: MatrixReport['offsets'] = {},
  boots: MatrixReport['boots'] = {},
  figures: MatrixReport['figures'] = {},
): MatrixReport {
  const kernels = [...new Set([...kernelOrder.filter((k) => cells.some((c) => c.kernel === k)), ...cells.map((c) => c.kernel)])];
  const scenarios = [...new Set(cells.map((c) => c.scenario))].sort();
  const count = (status: Cell['status']) => cells.filter((c) => c.status === status).length;
  return {
    version: 1,
    kernels,
    scenarios,
    cells,
    offsets,
    boots,
    figures,
    summary: { pass: count('pass'), fail: count('fail'), skip: count('skip'), xfail: count('xfail'), flaky: count('flaky') },
  };
}

/**
 * A cell run twice: the first attempt failed, the retry ran the file again on
 * a VM booted for it. Failing again, it is a failure with both messages;
 * otherwise it is flaky, never a pass.
 */
export function combineAttempts(first: Cell, retry: Cell): Cell {
  const attempts = [...(first.attempts ?? [attemptOf(first)]), ...(retry.attempts ?? [attemptOf(retry)])];
  const firstReason = first.reason ?? 'failed';
  const failedAgain = retry.status === 'fail';
  const retried = retry.status === 'pass' || retry.status === 'flaky' ? 'passed' : retry.status === 'skip' ? 'was skipped' : 'failed as expected';
  return {
    scenario: first.scenario,
    kernel: first.kernel,
    status: failedAgain ? 'fail' : 'flaky',
    reason: failedAgain
      ? `failed twice; 1st attempt: ${firstReason}; 2nd attempt, on a fresh VM: ${retry.reason ?? 'failed'}`
      : `failed, then ${retried} on a retry on a fresh VM; 1st attempt: ${firstReason}`,
    durationMs: attempts.reduce((sum, a) => sum + a.durationMs, 0),
    attempts,
  };
}

function attemptOf(cell: Cell): Attempt {
  const status = cell.status === 'flaky' ? 'pass' : cell.status;
  return { status, ...(cell.reason ? { reason: cell.reason } : {}), durationMs: cell.durationMs };
}

const MARK = { pass: 'pass', fail: 'FAIL', skip: 'skip', xfail: 'xfail', flaky: 'FLAKY' } as const;

function cellText(cell: Cell | undefined): string {
  if (!cell) return '-';
  return `${MARK[cell.status]} ${(cell.durationMs / 1000).toFixed(1)}s`;
}

/** A fixed-width table for the terminal, skip and fail reasons listed below it. */
export function renderTable(report: MatrixReport): string {
  const header = ['scenario', ...report.kernels];
  const rows = report.scenarios.map((s) => [s, ...report.kernels.map((k) => cellText(find(report, s, k)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const notes = report.cells.filter((c) => c.reason).flatMap((c) => [`  ${c.scenario} on ${c.kernel}: ${c.status}: ${c.reason}`, ...attemptLines(c)]);
  if (notes.length) out.push('', ...notes);
  const offsetRows = offsetTable(report);
  if (offsetRows) {
    const w = offsetRows.map((r) => r.map((c) => c.length)).reduce((a, b) => a.map((x, i) => Math.max(x, b[i]!)));
    out.push('', 'struct field offsets (bytes, from each kernel\'s BTF):');
    for (const row of offsetRows) out.push(`  ${row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()}`);
  }
  out.push(...figuresTerminal(report.figures, report.kernels));
  const slowest = slowestWithPhases(report);
  if (slowest) out.push('', `slowest file: ${slowest.scenario} on ${slowest.kernel}, ${(slowest.durationMs / 1000).toFixed(1)} s: ${describePhases(slowest.phases!)}`);
  out.push('', summaryLine(report));
  return out.join('\n');
}

/** Each attempt of a cell that ran more than once: outcome, time, VM, console log, first line. */
function attemptLines(cell: Cell): string[] {
  if ((cell.attempts?.length ?? 0) < 2) return [];
  return cell.attempts!.map(
    (a, i) => `    attempt ${i + 1}: ${a.status} ${(a.durationMs / 1000).toFixed(1)}s${a.vm ? ` on VM ${a.vm}` : ''}${a.reason && a.status === 'fail' ? `: ${a.reason}` : ''}${a.console ? ` (console: ${a.console})` : ''}`,
  );
}

function slowestWithPhases(report: MatrixReport): Cell | undefined {
  return report.cells.filter((c) => c.phases).sort((a, b) => b.durationMs - a.durationMs)[0];
}

/** Per kernel its boots, then per file where the time went (seconds). */
function timeTable(report: MatrixReport): string[] {
  const withPhases = report.cells.filter((c) => c.phases);
  if (!withPhases.length && !Object.keys(report.boots).length) return [];
  const keys = Object.keys(PHASE_NAMES) as (keyof Phases)[];
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const lines = ['', '### Where the time goes (seconds)', ''];
  const boots = report.kernels.filter((k) => report.boots[k]?.length);
  if (boots.length) {
    lines.push(`| kernel | ${boots.join(' | ')} |`, `|---|${boots.map(() => '---').join('|')}|`);
    lines.push(`| boot to SSH ready | ${boots.map((k) => report.boots[k]!.map(s).join(' + ')).join(' | ')} |`, '');
  }
  if (!withPhases.length) return lines;
  lines.push(`| scenario | kernel | total | ${keys.map((k) => PHASE_NAMES[k]).join(' | ')} |`, `|---|---|---|${keys.map(() => '---').join('|')}|`);
  for (const c of withPhases) lines.push(`| ${c.scenario} | ${c.kernel} | ${s(c.durationMs)} | ${keys.map((k) => s(c.phases![k])).join(' | ')} |`);
  return lines;
}

/** Header row plus one row per field, or undefined when no offsets were reported. */
function offsetTable(report: MatrixReport): string[][] | undefined {
  const kernels = report.kernels.filter((k) => report.offsets[k]);
  const fields = [...new Set(kernels.flatMap((k) => Object.keys(report.offsets[k]!)))].sort();
  if (fields.length === 0) return undefined;
  return [['field', ...kernels], ...fields.map((f) => [f, ...kernels.map((k) => String(report.offsets[k]![f] ?? '-'))])];
}

/** The same matrix as Markdown, for a GitHub job summary. */
export function renderMarkdown(report: MatrixReport): string {
  const icon = { pass: '✅ pass', fail: '❌ fail', skip: '⏭️ skip', xfail: '🎯 expected fail', flaky: '⚠️ flaky' } as const;
  const cell = (c: Cell | undefined) => (c ? `${icon[c.status]} ${(c.durationMs / 1000).toFixed(1)} s` : '–');
  const lines = [
    '## Kernel matrix',
    '',
    `| scenario | ${report.kernels.join(' | ')} |`,
    `|---|${report.kernels.map(() => '---').join('|')}|`,
    ...report.scenarios.map((s) => `| ${s} | ${report.kernels.map((k) => cell(find(report, s, k))).join(' | ')} |`),
  ];
  const notes = report.cells.filter((c) => c.reason);
  if (notes.length) lines.push('', ...notes.map((c) => `- **${c.scenario}** on **${c.kernel}** (${c.status}): ${c.reason}`));
  lines.push(...attemptsMarkdown(report));
  const offsetRows = offsetTable(report);
  if (offsetRows) {
    const [header, ...rows] = offsetRows;
    lines.push('', '### Struct field offsets (bytes, from each kernel\'s BTF)', '', `| ${header!.join(' | ')} |`, `|${header!.map(() => '---').join('|')}|`);
    lines.push(...rows.map((r) => `| \`${r[0]}\` | ${r.slice(1).join(' | ')} |`));
  }
  lines.push(...figuresMarkdown(report.figures, report.kernels));
  lines.push(...timeTable(report));
  lines.push('', summaryLine(report), '');
  return lines.join('\n');
}

/** Cells that ran twice, each attempt with its failure in full. */
function attemptsMarkdown(report: MatrixReport): string[] {
  const retried = report.cells.filter((c) => (c.attempts?.length ?? 0) > 1);
  if (!retried.length) return [];
  const lines = ['', '### Retried cells', '', 'A cell that failed was run again, its file on a VM booted for the retry. Each attempt:', ''];
  for (const c of retried) {
    lines.push(`#### ${c.scenario} on ${c.kernel}: ${c.status}`, '');
    c.attempts!.forEach((a, i) => {
      const where = [a.vm ? `VM \`${a.vm}\`` : '', a.console ? `console \`${a.console}\`` : ''].filter(Boolean).join(', ');
      lines.push(`${i + 1}. **${a.status}** in ${(a.durationMs / 1000).toFixed(1)} s${where ? ` (${where})` : ''}${a.reason && !a.message ? `: ${a.reason}` : ''}`);
      if (a.message) lines.push('', '   ```', ...fence(a.message).split('\n').map((l) => `   ${l}`), '   ```', '');
    });
    lines.push('');
  }
  return lines;
}

/** A message that cannot close the code block it is shown in, and not too long for it. */
function fence(message: string): string {
  const lines = message.replace(/\x1b\[[0-9;]*m/g, '').replace(/```/g, "'''").split('\n');
  return (lines.length > 40 ? [...lines.slice(0, 40), `… (${lines.length - 40} more lines)`] : lines).join('\n');
}

/** Skips are counted on their own, never as passes; so are flaky cells. */
export function summaryLine(report: MatrixReport): string {
  const { pass, fail, skip, xfail, flaky } = report.summary;
  const expected = xfail ? `, ${xfail} failed as expected` : '';
  const flakies = flaky ? `, ${flaky} flaky (failed, then passed on a retry)` : '';
  return `matrix: ${pass} passed, ${fail} failed${flakies}, ${skip} skipped${expected} (${report.scenarios.length} scenarios × ${report.kernels.length} kernels)`;
}

/** What a flaky cell does: fails the run and blocks the gate, or is let through (the config's `gate.flaky`). */
export type FlakyPolicy = 'block' | 'allow';

/**
 * Whether the matrix fails the run: a failed cell always does, a flaky one
 * unless the config allows flaky cells (`gate: { flaky: 'allow' }`, the
 * setting the release gate reads too).
 */
export function matrixFails(report: MatrixReport, flaky: FlakyPolicy): boolean {
  return report.summary.fail > 0 || (flaky === 'block' && report.summary.flaky > 0);
}

function find(report: MatrixReport, scenario: string, kernel: string): Cell | undefined {
  return report.cells.find((c) => c.scenario === scenario && c.kernel === kernel);
}
