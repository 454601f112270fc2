import * as z from 'zod';
import { readFile } from 'node:fs/promises';
import { ErrorStage } from '../loader/protocol.ts';
import { MatrixReport } from '../report/matrix.ts';
import { KNOWN_STATUSES, isKnownStatus } from './verdicts.ts';

/**
 * The committed baseline (`kmatrix.baseline.json`): per kernel, each
 * scenario's verdict and each program's load outcome and verifier work, as
 * one run found them. Run times, load times and run counts are left out:
 * they are noise. `kmatrix baseline save` writes it from a run's
 * matrix.json, sorted, so that a change to it reads as a diff in review;
 * `kmatrix gate` compares later runs with it.
 */
export const BASELINE_VERSION = 1;

const count = z.number().int().nonnegative();

export const BaselineProgram = z.strictObject({
  outcome: z.enum(['loaded', 'failed']),
  failedAt: ErrorStage.optional(),
  verifiedInsns: count.optional(),
  insnsSource: z.enum(['kernel', 'log']).optional(),
  totalStates: count.optional(),
  peakStates: count.optional(),
  /** The scenarios that loaded it (what `kmatrix gate --scenario` narrows by). */
  scenarios: z.array(z.string()),
});
export type BaselineProgram = z.infer<typeof BaselineProgram>;

export const BaselineKernel = z.strictObject({
  /** The kernel release the lock had when the baseline was saved. */
  release: z.string().optional(),
  /** scenario → status. */
  cells: z.record(z.string(), z.enum(KNOWN_STATUSES)),
  /** `object/program` → what the verifier did with it. */
  programs: z.record(z.string(), BaselineProgram),
});
export type BaselineKernel = z.infer<typeof BaselineKernel>;

export const Baseline = z.strictObject({
  $comment: z.string(),
  version: z.literal(BASELINE_VERSION),
  kernels: z.record(z.string(), BaselineKernel),
});
export type Baseline = z.infer<typeof Baseline>;

/** A file the gate cannot work from: exit status 2, with a message naming the file and what to do. */
export class GateInputError extends Error {}

const RESAVE = 'run the matrix on every kernel, then `kmatrix baseline save` to write it anew';

/** Kernel names in version order (5.10 before 6.1 before 10.1), then by text. */
export function compareKernelNames(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const [x, y] = [pa[i]!, pb[i]!];
    if (x === y) continue;
    const numeric = i % 2 === 1;
    if (numeric) return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The baseline of a run: every kernel the report has, sorted, with the
 * lock's release of each when known. A cell status this kmatrix does not
 * know is refused (the gate could not judge it later).
 */
export function baselineOf(report: MatrixReport, options: { source: string; releases?: Record<string, string> }): Baseline {
  const kernels = [...new Set([...report.kernels, ...report.cells.map((c) => c.kernel), ...Object.keys(report.figures)])].sort(compareKernelNames);
  const out: Baseline = {
    $comment:
      `Written by \`kmatrix baseline save\` from ${options.source} (${kernels.length} kernels); \`kmatrix gate\` compares runs with it. ` +
      'Do not edit by hand: after an intended change, run the matrix and save it again, and review the diff.',
    version: BASELINE_VERSION,
    kernels: {},
  };
  for (const kernel of kernels) {
    const cells: Record<string, string> = {};
    for (const cell of [...report.cells].filter((c) => c.kernel === kernel).sort((a, b) => byText(a.scenario, b.scenario))) {
      if (!isKnownStatus(cell.status)) throw new GateInputError(`${options.source}: ${cell.scenario} on ${kernel} has status "${cell.status}", which this kmatrix's gate does not know`);
      cells[cell.scenario] = cell.status;
    }
    const programs: Record<string, BaselineProgram> = {};
    const figures = report.figures[kernel] ?? {};
    for (const key of Object.keys(figures).sort(byText)) {
      const f = figures[key]!;
      programs[key] = {
        outcome: f.outcome,
        ...(f.outcome === 'failed' && f.failedAt ? { failedAt: f.failedAt } : {}),
        ...(f.verifiedInsns !== undefined ? { verifiedInsns: f.verifiedInsns } : {}),
        ...(f.insnsSource ? { insnsSource: f.insnsSource } : {}),
        ...(f.totalStates !== undefined ? { totalStates: f.totalStates } : {}),
        ...(f.peakStates !== undefined ? { peakStates: f.peakStates } : {}),
        scenarios: [...f.scenarios].sort(byText),
      };
    }
    const release = options.releases?.[kernel];
    out.kernels[kernel] = { ...(release ? { release } : {}), cells, programs } as BaselineKernel;
  }
  return out;
}

/**
 * The file's text: JSON indented by two spaces, keys in the order above,
 * each program on one line (a change to its figures is a one-line diff),
 * and a final newline.
 */
export function formatBaseline(baseline: Baseline): string {
  return `${formatJson(baseline, 0)}\n`;
}

/** Objects nested deeper than this many levels (a program's entry) are written on one line. */
const INLINE_DEPTH = 4;

function formatJson(value: unknown, depth: number): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  const inline = depth >= INLINE_DEPTH;
  if (Array.isArray(value)) return `[${value.map((v) => formatJson(v, depth + 1)).join(', ')}]`;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const parts = entries.map(([k, v]) => `${JSON.stringify(k)}: ${formatJson(v, depth + 1)}`);
  if (inline) return `{ ${parts.join(', ')} }`;
  const pad = '  '.repeat(depth + 1);
  return `{\n${parts.map((p) => pad + p).join(',\n')}\n${'  '.repeat(depth)}}`;
}

/** Reads and validates a baseline; every way it can be wrong is a {@link GateInputError} that says what to do. */
export function parseBaseline(path: string, text: string): Baseline {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new GateInputError(`${path} is not valid JSON (${(err as Error).message}); ${RESAVE}`);
  }
  const version = typeof data === 'object' && data !== null && 'version' in data ? (data as { version: unknown }).version : undefined;
  if (version !== BASELINE_VERSION) {
    throw new GateInputError(
      version === undefined
        ? `${path} is not a kmatrix baseline (it has no "version"); ${RESAVE}`
        : `${path} is stale: it is a baseline of schema version ${JSON.stringify(version)}, and this kmatrix reads version ${BASELINE_VERSION}; ${RESAVE}`,
    );
  }
  const parsed = Baseline.safeParse(data);
  if (!parsed.success) throw new GateInputError(`${path} does not match the baseline schema (version ${BASELINE_VERSION}):\n${z.prettifyError(parsed.error)}\n${RESAVE}`);
  return parsed.data;
}

/**
 * A baseline naming a kernel the lock no longer has is stale: that kernel
 * can never be run again, so the gate would block forever.
 */
export function checkBaselineAgainstLock(path: string, baseline: Baseline, lockKernels: string[], lockPath: string): void {
  const gone = Object.keys(baseline.kernels).filter((k) => !lockKernels.includes(k));
  if (gone.length) {
    throw new GateInputError(
      `${path} is stale: it names kernel${gone.length > 1 ? 's' : ''} ${gone.join(', ')}, which ${lockPath} no longer has (it has ${lockKernels.join(', ') || 'none'}); ${RESAVE}`,
    );
  }
}

export async function readBaseline(path: string): Promise<Baseline> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new GateInputError(`${path}: no baseline file; ${RESAVE} (and commit it)`);
    throw new GateInputError(`${path}: cannot read the baseline: ${err.message}`);
  });
  return parseBaseline(path, text);
}

/** A run's matrix.json; a missing or invalid one is a {@link GateInputError}. */
export async function readReport(path: string): Promise<MatrixReport> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new GateInputError(`${path}: no report; run the matrix first (\`kmatrix run\`, or \`report merge\` of the kernel jobs' reports)`);
    throw new GateInputError(`${path}: cannot read the report: ${err.message}`);
  });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new GateInputError(`${path} is not valid JSON (${(err as Error).message}): not a report of a finished run`);
  }
  const parsed = MatrixReport.safeParse(data);
  if (!parsed.success) throw new GateInputError(`${path} is not a matrix report this kmatrix reads:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
