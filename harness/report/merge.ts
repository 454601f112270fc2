import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJsonFile } from '../util/json-file.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { outDir, userRoot } from '../util/paths.ts';
import { loadConfig } from '../config/load.ts';
import { readLock } from '../kernels/lock.ts';
import { renderJUnit } from './junit.ts';
import { MatrixReport, buildMatrix, matrixFails, renderMarkdown, renderTable } from './matrix.ts';
import { mergeFigureSets } from './figures.ts';

/**
 * Merges the matrix.json of several runs (one CI job per kernel) into one
 * report, in the lock's kernel order; writes it under out/report and into the
 * GitHub job summary. Exit code 1 when any cell failed or none was found,
 * or a cell is flaky and the config does not allow flaky cells (`gate.flaky`).
 */
export async function mergeReports(dirs: string[]): Promise<number> {
  if (dirs.length === 0) throw new Error('report merge: give the directories holding matrix.json files');
  const files = (await Promise.all(dirs.map(findMatrixFiles))).flat();
  if (files.length === 0) {
    console.error(`report merge: no matrix.json under ${dirs.join(', ')}`);
    return 1;
  }
  const cells = [];
  const figures = [];
  for (const file of files) {
    const report = parseJsonFile(file, MatrixReport, await readFile(file, 'utf8'));
    cells.push(...report.cells);
    figures.push(report.figures);
  }
  const config = await loadConfig(userRoot());
  const order = (await readLock(config.kernels.lock)).kernels.map((k) => k.name);
  const report = buildMatrix(cells, order, {}, {}, mergeFigureSets(figures));
  const dir = join(outDir(), 'report');
  await mkdir(dir, { recursive: true });
  const markdown = renderMarkdown(report);
  await writeFileAtomic(join(dir, 'matrix.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'matrix.md'), markdown);
  await writeFileAtomic(join(dir, 'junit.xml'), renderJUnit(report, { flaky: config.gate.flaky }));
  if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown);
  console.log(renderTable(report));
  return matrixFails(report, config.gate.flaky) ? 1 : 0;
}

async function findMatrixFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name === 'matrix.json').map((e) => join(e.parentPath, e.name));
}
