import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJsonFile } from '../util/json-file.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { outDir, userRoot } from '../util/paths.ts';
import { loadConfig } from '../config/load.ts';
import { readLock, selectKernels } from '../kernels/lock.ts';
import { renderJUnit } from './junit.ts';
import { MatrixReport, buildMatrix, matrixFails, renderMarkdown, renderTable } from './matrix.ts';
import { mergeFigureSets } from './figures.ts';

export interface MergeOptions {
  /**
   * Kernels that must each have a report: `all` (every kernel of the lock)
   * or a comma-separated list of locked names. A kernel of it with no cell
   * in any report (its CI job died in set-up, say) is named, and the merge
   * fails: a job that never wrote a report must not vanish from the matrix.
   */
  expect?: string;
}

/**
 * Merges the matrix.json of several runs (one CI job per kernel) into one
 * report, in the lock's kernel order, keeping every kernel's cells, struct
 * field offsets, boots and figures; writes it under out/report and into the
 * GitHub job summary. Exit code 1 when any cell failed, none was found, a
 * kernel of `expect` has no report, or a cell is flaky and the config does
 * not allow flaky cells (`gate.flaky`).
 */
export async function mergeReports(dirs: string[], options: MergeOptions = {}): Promise<number> {
  if (dirs.length === 0) throw new Error('report merge: give the directories holding matrix.json files');
  const config = await loadConfig(userRoot());
  const lock = await readLock(config.kernels.lock);
  // Checked before reading anything: a wrong name is a usage error, not a missing report.
  const expected = options.expect === undefined ? [] : selectKernels(lock, options.expect === 'all' ? undefined : options.expect).map((k) => k.name);
  const files = (await Promise.all(dirs.map(findMatrixFiles))).flat();
  const reports = [];
  for (const file of files) reports.push(parseJsonFile(file, MatrixReport, await readFile(file, 'utf8')));
  const report = mergeMatrixReports(reports, lock.kernels.map((k) => k.name));
  const missing = missingKernels(report, expected);
  if (files.length === 0 && expected.length === 0) {
    console.error(`report merge: no matrix.json under ${dirs.join(', ')}`);
    return 1;
  }
  const dir = join(outDir(), 'report');
  await mkdir(dir, { recursive: true });
  const markdown = renderMarkdown(report) + missingMarkdown(missing);
  await writeFileAtomic(join(dir, 'matrix.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'matrix.md'), markdown);
  await writeFileAtomic(join(dir, 'junit.xml'), renderJUnit(report, { flaky: config.gate.flaky }));
  if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown);
  console.log(renderTable(report));
  if (missing.length > 0) {
    console.error(
      `report merge: FAIL: no report from kernel${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ` +
        `(expected: ${expected.join(', ')}; found ${files.length} matrix.json under ${dirs.join(', ')}). ` +
        'A kernel job that died before writing out/report/matrix.json (in its set-up, say) leaves no report: see that job\'s log.',
    );
    return 1;
  }
  return matrixFails(report, config.gate.flaky) ? 1 : 0;
}

/** One report of several: cells, and per kernel its offsets, boots and figures, in `kernelOrder`. */
export function mergeMatrixReports(reports: MatrixReport[], kernelOrder: string[]): MatrixReport {
  const offsets: MatrixReport['offsets'] = {};
  const boots: MatrixReport['boots'] = {};
  for (const report of reports) {
    for (const [kernel, fields] of Object.entries(report.offsets)) Object.assign((offsets[kernel] ??= {}), fields);
    for (const [kernel, times] of Object.entries(report.boots)) (boots[kernel] ??= []).push(...times);
  }
  return buildMatrix(
    reports.flatMap((r) => r.cells),
    kernelOrder,
    offsets,
    boots,
    mergeFigureSets(reports.map((r) => r.figures)),
  );
}

/** The kernels of `expected` without a single cell in the report. */
export function missingKernels(report: MatrixReport, expected: string[]): string[] {
  return expected.filter((k) => !report.cells.some((c) => c.kernel === k));
}

function missingMarkdown(missing: string[]): string {
  if (missing.length === 0) return '';
  return `\n**❌ No report from ${missing.map((k) => `\`${k}\``).join(', ')}**: the job died before writing one (see its log).\n`;
}

async function findMatrixFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name === 'matrix.json').map((e) => join(e.parentPath, e.name));
}
