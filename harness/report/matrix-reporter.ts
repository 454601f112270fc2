import { appendFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { outDir, runDir } from '../util/paths.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { buildMatrix, renderMarkdown, renderTable, type Cell } from './matrix.ts';
import { renderJUnit } from './junit.ts';
import { EXPECTED_FAIL_ANNOTATION, NOTE_ANNOTATION, OFFSETS_ANNOTATION } from './annotations.ts';
import { currentPool } from '../pool/run-pool.ts';
import type { LeaseRecord } from '../pool/broker.ts';
import { summarizePool } from './pool-summary.ts';
import { addPhases, type Phases } from './phases.ts';
import { addFigures, type FiguresByKernel } from './figures.ts';

const KERNEL_PROJECT = /^kernel (.+)$/;

/**
 * Turns the run into the scenario × kernel matrix: a table on the terminal,
 * and matrix.md, matrix.json and junit.xml under out/report (the Markdown also
 * goes to the GitHub job summary when there is one). Its last line counts
 * every test case of the run, unit tests included.
 */
export default class MatrixReporter implements Reporter {
  async onTestRunEnd(modules: ReadonlyArray<TestModule>): Promise<void> {
    const pool = await currentPool();
    const cells: Cell[] = [];
    const offsets: Record<string, Record<string, number>> = {};
    const figures: FiguresByKernel = {};
    const kernelOrder: string[] = [];
    const totals = { passed: 0, failed: 0, skipped: 0 };
    for (const module of modules) {
      const tests = [...module.children.allTests()];
      for (const t of tests) {
        const state = t.result().state;
        if (state === 'passed') totals.passed++;
        else if (state === 'failed') totals.failed++;
        else if (state === 'skipped') totals.skipped++;
      }
      // A file can fail outside its cases (its VM left broken after it).
      if (module.errors().length > 0 && !tests.some((t) => t.result().state === 'failed')) totals.failed++;
      const kernel = KERNEL_PROJECT.exec(module.project.name)?.[1];
      if (!kernel) continue;
      if (!kernelOrder.includes(kernel)) kernelOrder.push(kernel);
      const lease = pool?.leases.find((l) => l.kernel === kernel && l.file.endsWith(`/${basename(module.moduleId)}`));
      const cell = cellOf(module, kernel, tests, lease);
      cells.push(cell);
      for (const t of tests) addFigures(figures, kernel, cell.scenario, t.meta().figures ?? []);
      for (const t of tests) {
        for (const a of t.annotations()) {
          if (a.type === OFFSETS_ANNOTATION) Object.assign((offsets[kernel] ??= {}), JSON.parse(a.message) as Record<string, number>);
        }
      }
    }
    const boots: Record<string, number[]> = {};
    for (const boot of pool?.boots ?? []) (boots[boot.kernel] ??= []).push(boot.bootMs);
    if (cells.length > 0) {
      const report = buildMatrix(cells, kernelOrder, offsets, boots, figures);
      const markdown = renderMarkdown(report);
      const files = {
        'matrix.json': `${JSON.stringify(report, null, 2)}\n`,
        'matrix.md': markdown,
        'junit.xml': renderJUnit(report),
      };
      // The run keeps its own copy; out/report always holds the latest whole report.
      const dir = join(outDir(), 'report');
      for (const target of [join(runDir(), 'report'), dir]) {
        await mkdir(target, { recursive: true });
        for (const [name, text] of Object.entries(files)) await writeFileAtomic(join(target, name), text);
      }
      if (process.env.GITHUB_STEP_SUMMARY) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown);
      console.log(`\n${renderTable(report)}\n(report: ${dir}/matrix.{md,json}, junit.xml; consoles: ${runDir()}/consoles)`);
    }
    if (pool && pool.boots.length > 0) {
      const summary = summarizePool(pool.boots, pool.leases);
      await mkdir(runDir(), { recursive: true });
      await writeFileAtomic(join(runDir(), 'pool.json'), `${JSON.stringify({ ...summary, boots: pool.boots, leases: pool.leases }, null, 2)}\n`);
      console.log(summary.line);
    }
    console.log(`kmatrix: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  }
}

type TestCaseOf<M extends TestModule> = ReturnType<M['children']['allTests']> extends Iterable<infer T> ? T : never;

function cellOf(module: TestModule, kernel: string, tests: TestCaseOf<TestModule>[], lease?: LeaseRecord): Cell {
  const scenario = basename(module.moduleId).replace(/\.test\.ts$/, '');
  const durationMs = module.diagnostic().duration;
  const results = tests.map((t) => t.result());
  const failed = results.find((r) => r.state === 'failed');
  if (failed || module.state() === 'failed') {
    const error = failed?.errors?.[0] ?? module.errors()[0];
    return { scenario, kernel, status: 'fail', reason: firstLine(error?.message ?? 'failed'), durationMs };
  }
  const expectedFailures = tests.flatMap((t) => t.annotations().filter((a) => a.type === EXPECTED_FAIL_ANNOTATION));
  if (expectedFailures.length > 0) {
    return { scenario, kernel, status: 'xfail', reason: expectedFailures.map((a) => a.message).join('; '), durationMs };
  }
  if (results.length > 0 && results.every((r) => r.state === 'skipped')) {
    const note = results.map((r) => (r.state === 'skipped' ? r.note : undefined)).find(Boolean);
    return { scenario, kernel, status: 'skip', reason: note ?? 'skipped', durationMs };
  }
  const notes = tests.flatMap((t) => t.annotations().filter((a) => a.type === NOTE_ANNOTATION).map((a) => a.message));
  return { scenario, kernel, status: 'pass', durationMs, ...(notes.length ? { reason: notes.join('; ') } : {}), ...phasesOf(tests, lease) };
}

/**
 * The file's phases: its cases' added up (each case's are in its meta, set
 * by the startLoader fixture), and its wait for the VM and the VM's reset
 * after it, from the pool.
 */
function phasesOf(tests: TestCaseOf<TestModule>[], lease?: LeaseRecord): { phases?: Phases } {
  const all = tests.map((t) => t.meta().phases).filter((p): p is Phases => p !== undefined);
  if (!all.length) return {};
  return { phases: { ...all.reduce(addPhases), vmWait: lease?.waitMs ?? 0, reset: lease?.resetMs ?? 0 } };
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  return line.length > 200 ? `${line.slice(0, 197)}…` : line;
}
