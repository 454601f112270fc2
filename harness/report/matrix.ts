import * as z from 'zod';
import { describePhases, PHASE_NAMES, type Phases } from './phases.ts';
import { FiguresByKernel } from './figures.ts';
import { figuresMarkdown, figuresTerminal } from './figures-render.ts';

const PhasesSchema = z.strictObject({
  vmWait: z.number(), loadVerify: z.number(), attach: z.number(), traffic: z.number(), drain: z.number(), checks: z.number(), other: z.number(), reset: z.number(),
});

/** One scenario on one kernel. */
export const Cell = z.strictObject({
  scenario: z.string(),
  kernel: z.string(),
  /**
   * `xfail`: the scenario proved something it expected to go wrong did go
   * wrong (a known-bad program caught on a kernel it does not fit): a result
   * of its own, neither a pass nor a failure.
   */
  status: z.enum(['pass', 'fail', 'skip', 'xfail']),
  /** Why it was skipped or expected to fail, the first line of the failure, or a note on a pass. */
  reason: z.string().optional(),
  durationMs: z.number(),
  /** Where the file's time went (harness/report/phases.ts), when it ran a loader. */
  phases: PhasesSchema.optional(),
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
  summary: z.strictObject({ pass: z.number(), fail: z.number(), skip: z.number(), xfail: z.number().default(0) }),
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
    summary: { pass: count('pass'), fail: count('fail'), skip: count('skip'), xfail: count('xfail') },
  };
}

const MARK = { pass: 'pass', fail: 'FAIL', skip: 'skip', xfail: 'xfail' } as const;

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
  const notes = report.cells.filter((c) => c.reason).map((c) => `  ${c.scenario} on ${c.kernel}: ${c.status}: ${c.reason}`);
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
  const icon = { pass: '✅ pass', fail: '❌ fail', skip: '⏭️ skip', xfail: '🎯 expected fail' } as const;
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

/** Skips are counted on their own, never as passes. */
export function summaryLine(report: MatrixReport): string {
  const { pass, fail, skip, xfail } = report.summary;
  const expected = xfail ? `, ${xfail} failed as expected` : '';
  return `matrix: ${pass} passed, ${fail} failed, ${skip} skipped${expected} (${report.scenarios.length} scenarios × ${report.kernels.length} kernels)`;
}

function find(report: MatrixReport, scenario: string, kernel: string): Cell | undefined {
  return report.cells.find((c) => c.scenario === scenario && c.kernel === kernel);
}
