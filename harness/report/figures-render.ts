import { averageRunNs, type FiguresByKernel, type ProgramFigures } from './figures.ts';

/**
 * The per kernel × program figures (figures.ts) as the report shows them:
 * a program × kernel table on the terminal and in Markdown, and JUnit
 * properties per kernel. Instruction counts read from the verifier's log
 * rather than the kernel's `verified_insns` carry a `ˡ`.
 */

const LOG_MARK = 'ˡ';
const SOURCE_NOTE = `instructions the verifier processed · states it explored (peak); ${LOG_MARK} counted from the verifier's statistics log, the others are the kernel's verified_insns (5.16 on); states always come from that log`;
const RUNS_NOTE =
  'runs and average run time while the cases ran, from BPF statistics (a program reached only by tail calls counts none: the kernel counts a run where a program is entered); relative figures only: under software emulation absolute nanoseconds mean little';

/** Program keys (rows) of the kernels given, sorted. */
function programKeys(figures: FiguresByKernel, kernels: string[]): string[] {
  return [...new Set(kernels.flatMap((k) => Object.keys(figures[k] ?? {})))].sort();
}

/** `73 · 6 (6)`, `71ˡ · 5 (5)`, or the stage that refused the program. */
export function verifierCell(f: ProgramFigures | undefined): string {
  if (!f) return '–';
  const insns = f.verifiedInsns === undefined ? '?' : `${f.verifiedInsns}${f.insnsSource === 'log' ? LOG_MARK : ''}`;
  const states = f.totalStates === undefined ? '' : ` · ${f.totalStates}${f.peakStates === undefined ? '' : ` (${f.peakStates})`}`;
  const counts = `${insns}${states}`;
  if (f.outcome === 'failed') return `failed at ${f.failedAt ?? '?'}${f.verifiedInsns === undefined ? '' : ` (${counts})`}`;
  return counts;
}

/** `1.2 µs`, `850 ns`: a mean run time, short. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${Math.round(ns)} ns`;
}

function runsText(f: ProgramFigures): string {
  if (f.runCount === undefined) return f.runsOff ? 'no stats' : '–';
  if (f.runCount === 0) return '0 runs';
  const avg = averageRunNs(f);
  return `${f.runCount} × ${avg === undefined ? '–' : formatNs(avg)}`;
}

/** Lines for the terminal: one row per program, a compact cell per kernel. */
export function figuresTerminal(figures: FiguresByKernel, kernels: string[]): string[] {
  const withFigures = kernels.filter((k) => figures[k]);
  const keys = programKeys(figures, withFigures);
  if (!keys.length) return [];
  const cell = (f: ProgramFigures | undefined) => {
    if (!f || f.outcome === 'failed') return verifierCell(f);
    const load = f.loadMs === undefined ? '' : ` ${f.loadMs} ms`;
    return `${verifierCell(f).replace(/ · /g, '·')}${load}, ${runsText(f).replace(/ × /, '×')}`;
  };
  const rows = [['program', ...withFigures], ...keys.map((key) => [key, ...withFigures.map((k) => cell(figures[k]![key]))])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    '',
    'programs per kernel: insns·states (peak), load+verify, runs×mean run time',
    `(${LOG_MARK}: insns from the verifier's log, else the kernel's verified_insns; run times are relative)`,
    ...rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}`),
  ];
}

/** Markdown: the verifier table (program × kernel), then load time and runs per program and kernel. */
export function figuresMarkdown(figures: FiguresByKernel, kernels: string[]): string[] {
  const withFigures = kernels.filter((k) => figures[k]);
  const keys = programKeys(figures, withFigures);
  if (!keys.length) return [];
  const lines = [
    '',
    '### Verifier per program',
    '',
    `_${SOURCE_NOTE}._`,
    '',
    `| program | ${withFigures.join(' | ')} |`,
    `|---|${withFigures.map(() => '---').join('|')}|`,
    ...keys.map((key) => `| \`${key}\` | ${withFigures.map((k) => verifierCell(figures[k]![key])).join(' | ')} |`),
    '',
    '### Load and runs per program',
    '',
    `_load+verify: the loader's wall time of the program's BPF_PROG_LOAD (largest over its loads); ${RUNS_NOTE}._`,
    '',
    '| program | kernel | outcome | load+verify | runs | mean run time (relative) | scenarios |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const key of keys) {
    for (const kernel of withFigures) {
      const f = figures[kernel]![key];
      if (!f) continue;
      const outcome = f.outcome === 'loaded' ? `loaded ×${f.loads}` : `failed at ${f.failedAt ?? '?'}`;
      const avg = averageRunNs(f);
      const runs = f.runCount === undefined ? (f.runsOff ? `no stats (${f.runsOff})` : '–') : String(f.runCount);
      lines.push(
        `| \`${key}\` | ${kernel} | ${outcome} | ${f.loadMs === undefined ? '–' : `${f.loadMs} ms`} | ${runs} | ${avg === undefined ? '–' : formatNs(avg)} | ${f.scenarios.join(', ')} |`,
      );
    }
  }
  return lines;
}

/** JUnit `<properties>` of one kernel's testsuite: `figures.<object>/<program>.<field>`. */
export function figuresJUnitProperties(programs: Record<string, ProgramFigures> | undefined, xml: (text: string) => string): string {
  const entries = Object.entries(programs ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return '';
  const props: string[] = [];
  for (const [key, f] of entries) {
    const avg = averageRunNs(f);
    const fields: Record<string, string | number | undefined> = {
      outcome: f.outcome,
      failedAt: f.failedAt,
      verifiedInsns: f.verifiedInsns,
      insnsSource: f.insnsSource,
      totalStates: f.totalStates,
      peakStates: f.peakStates,
      loadMs: f.loadMs,
      runCount: f.runCount,
      meanRunNsRelative: avg === undefined ? undefined : Math.round(avg),
    };
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined) props.push(`      <property name="figures.${xml(key)}.${name}" value="${xml(String(value))}"/>`);
    }
  }
  return `    <properties>\n${props.join('\n')}\n    </properties>\n`;
}
