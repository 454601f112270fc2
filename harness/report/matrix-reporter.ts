import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Reporter, TestModule, TestRunEndReason } from 'vitest/node';
import type { SerializedError } from 'vitest';
import { outDir, runDir, userRoot } from '../util/paths.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { parseJsonFile } from '../util/json-file.ts';
import { loadConfig } from '../config/load.ts';
import { MatrixReport, buildMatrix, combineAttempts, matrixFails, renderMarkdown, renderTable, type Attempt, type Cell } from './matrix.ts';
import { renderJUnit } from './junit.ts';
import { EXPECTED_FAIL_ANNOTATION, NOTE_ANNOTATION, OFFSETS_ANNOTATION } from './annotations.ts';
import { currentPool } from '../pool/run-pool.ts';
import type { LeaseRecord } from '../pool/broker.ts';
import { summarizePool } from './pool-summary.ts';
import { addPhases, type Phases } from './phases.ts';
import { addFigures, type FiguresByKernel } from './figures.ts';
import { currentAttempt, firstAttemptDir, readRetryPlan, retryPlanPath, type RetryPlan } from '../scenario/retry.ts';

const KERNEL_PROJECT = /^kernel (.+)$/;

/**
 * Turns the run into the scenario × kernel matrix: a table on the terminal,
 * and matrix.md, matrix.json and junit.xml under out/report (the Markdown also
 * goes to the GitHub job summary when there is one). Its last line counts
 * every test case of the run, unit tests included.
 *
 * In a run that retries failed cells (harness/run.ts), the first pass also
 * leaves the plan of what to retry and its own report in the run's
 * directory; the retry pass combines each retried cell's two attempts (fail
 * then pass: flaky) into the final report. A flaky cell sets a failing exit
 * code unless the config allows flaky cells.
 */
export default class MatrixReporter implements Reporter {
  async onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = [], reason?: TestRunEndReason): Promise<void> {
    const pool = await currentPool();
    const attempt = currentAttempt();
    const config = await loadConfig(userRoot());
    let cells: Cell[] = [];
    /** Failures outside the matrix's cells: unit tests, files of no kernel, errors of the run. */
    let otherFailures = unhandledErrors.length;
    const offsets: Record<string, Record<string, number>> = {};
    const figures: FiguresByKernel = {};
    const kernelOrder: string[] = [];
    const fileOfCell = new Map<Cell, string>();
    const ran: { cell: Cell; attempt: Attempt }[] = [];
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
      if (!kernel) {
        if (module.state() === 'failed' || tests.some((t) => t.result().state === 'failed')) otherFailures++;
        continue;
      }
      if (!kernelOrder.includes(kernel)) kernelOrder.push(kernel);
      const lease = pool?.leases.find((l) => l.kernel === kernel && l.file.endsWith(`/${basename(module.moduleId)}`));
      const cell = cellOf(module, kernel, tests, lease);
      const attempt = attemptOf(cell, module, tests, lease);
      // A failure carries its message in full (and where it ran): the retry pass shows it beside the retry's outcome.
      if (cell.status === 'fail') cell.attempts = [attempt];
      cells.push(cell);
      ran.push({ cell, attempt });
      fileOfCell.set(cell, relative(userRoot(), module.moduleId));
      for (const t of tests) addFigures(figures, kernel, cell.scenario, t.meta().figures ?? []);
      for (const t of tests) {
        for (const a of t.annotations()) {
          if (a.type === OFFSETS_ANNOTATION) Object.assign((offsets[kernel] ??= {}), JSON.parse(a.message) as Record<string, number>);
        }
      }
    }
    const boots: Record<string, number[]> = {};
    for (const boot of pool?.boots ?? []) (boots[boot.kernel] ??= []).push(boot.bootMs);
    let figuresOfRun = figures;
    let offsetsOfRun = offsets;
    let kernelsOfRun = kernelOrder;
    if (attempt === 'retry') {
      // The final report: the first pass's, each retried cell with both its attempts.
      const plan = readRetryPlan();
      const firstPath = join(firstAttemptDir(), 'matrix.json');
      const first = parseJsonFile(firstPath, MatrixReport, await readFile(firstPath, 'utf8'));
      cells = retriedCells(first.cells, ran, plan);
      for (const [kernel, ms] of Object.entries(first.boots)) boots[kernel] = [...ms, ...(boots[kernel] ?? [])];
      figuresOfRun = first.figures;
      offsetsOfRun = { ...offsets, ...first.offsets };
      kernelsOfRun = first.kernels;
    }
    if (attempt === 'first') {
      const failed = cells.filter((c) => c.status === 'fail');
      const plan: RetryPlan = {
        version: 1,
        cells: failed.map((c) => ({ kernel: c.kernel, scenario: c.scenario, file: fileOfCell.get(c)! })),
        otherFailures,
        interrupted: reason === 'interrupted',
      };
      await mkdir(runDir(), { recursive: true });
      await writeFileAtomic(retryPlanPath(), `${JSON.stringify(plan, null, 2)}\n`);
    }
    if (cells.length > 0) {
      const report = buildMatrix(cells, kernelsOfRun, offsetsOfRun, boots, figuresOfRun);
      const markdown = renderMarkdown(report);
      const files = {
        'matrix.json': `${JSON.stringify(report, null, 2)}\n`,
        'matrix.md': markdown,
        'junit.xml': renderJUnit(report, { flaky: config.gate.flaky }),
      };
      // The run keeps its own copy; out/report always holds the latest whole report.
      // A first pass whose failures will be retried keeps its own apart, for the retry pass.
      const dir = join(outDir(), 'report');
      const own = attempt === 'first' ? firstAttemptDir() : join(runDir(), 'report');
      for (const target of [own, dir]) {
        await mkdir(target, { recursive: true });
        for (const [name, text] of Object.entries(files)) await writeFileAtomic(join(target, name), text);
      }
      const retrying = attempt === 'first' && report.summary.fail > 0 && reason !== 'interrupted';
      if (process.env.GITHUB_STEP_SUMMARY && !retrying) await appendFile(process.env.GITHUB_STEP_SUMMARY, markdown);
      const title = retrying ? `first attempt (each failed cell is run again, on a VM booted for it):\n` : '';
      console.log(`\n${title}${renderTable(report)}\n(report: ${dir}/matrix.{md,json}, junit.xml; consoles: ${runDir()}/consoles)`);
      if (report.summary.flaky > 0) {
        console.log(
          config.gate.flaky === 'block'
            ? `kmatrix: ${report.summary.flaky} flaky cell(s): they fail the run (the config's gate.flaky: 'block', the default; 'allow' would report them without failing it)`
            : `kmatrix: ${report.summary.flaky} flaky cell(s), allowed by the config (gate.flaky: 'allow')`,
        );
      }
      // vitest's exit code: a flaky cell is no pass.
      if (matrixFails(report, config.gate.flaky)) process.exitCode = 1;
    }
    if (pool && pool.boots.length > 0) {
      const summary = summarizePool(pool.boots, pool.leases);
      await mkdir(runDir(), { recursive: true });
      const name = attempt === 'retry' ? 'pool-retry.json' : 'pool.json';
      await writeFileAtomic(join(runDir(), name), `${JSON.stringify({ ...summary, boots: pool.boots, leases: pool.leases }, null, 2)}\n`);
      console.log(summary.line);
    }
    // The retry pass's own cases, not the matrix's verdict (the table above has that).
    const of = attempt === 'retry' ? 'the retry pass\'s cases: ' : '';
    console.log(`kmatrix: ${of}${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
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
  // A case that failed and then passed on vitest's own retry (a user's
  // `retry` option) ran again on the same VM: flaky all the same, never a pass.
  const retried = tests.find((t) => t.result().state === 'passed' && (t.diagnostic()?.retryCount ?? 0) > 0);
  if (retried) {
    const error = retried.result().errors?.[0];
    return { scenario, kernel, status: 'flaky', reason: `"${retried.name}" failed, then passed on vitest's retry on the same VM; it said: ${firstLine(error?.message ?? 'failed')}`, durationMs };
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

/** The cell's run as one attempt: its outcome, its failure in full, the VM it ran on and that VM's console. */
function attemptOf(cell: Cell, module: TestModule, tests: TestCaseOf<TestModule>[], lease?: LeaseRecord): Attempt {
  const error = tests.map((t) => t.result()).find((r) => r.state === 'failed')?.errors?.[0] ?? module.errors()[0];
  return {
    status: cell.status === 'flaky' ? 'pass' : cell.status,
    ...(cell.reason ? { reason: cell.reason } : {}),
    ...(cell.status === 'fail' && error ? { message: fullMessage(error) } : {}),
    durationMs: cell.durationMs,
    ...(lease ? { vm: lease.vmId } : {}),
    ...(lease?.console ? { console: lease.console } : {}),
  };
}

/**
 * The retry pass's report: the first pass's cells, each retried one with
 * both attempts (harness/report/matrix.ts, combineAttempts). A cell planned
 * for a retry that did not run stays failed, and says so.
 */
export function retriedCells(first: Cell[], retried: { cell: Cell; attempt: Attempt }[], plan?: RetryPlan): Cell[] {
  const planned = (c: Cell) => plan?.cells.some((p) => p.kernel === c.kernel && p.scenario === c.scenario) ?? false;
  const out = first.map((c) => {
    if (!planned(c)) return c;
    const again = retried.find((r) => r.cell.kernel === c.kernel && r.cell.scenario === c.scenario);
    const second = again ? { ...again.cell, attempts: [again.attempt] } : { ...c, reason: 'the retry did not run', durationMs: 0, attempts: undefined };
    return combineAttempts(c, second);
  });
  // A cell only the retry pass has (not planned): as it came.
  for (const r of retried) if (!out.some((c) => c.kernel === r.cell.kernel && c.scenario === r.cell.scenario)) out.push(r.cell);
  return out;
}

/** An error's message, diff and stack, without colour codes, cut to a size a report can show. */
function fullMessage(error: { message?: string; stack?: string; diff?: string } | undefined): string | undefined {
  if (!error) return undefined;
  const message = error.message ?? '';
  const stack = error.stack ?? '';
  // A stack starts with the message (`Error: …`) as often as not.
  const parts = stack.includes(message) ? [stack] : [message, stack];
  if (error.diff) parts.push(error.diff);
  const text = parts.filter(Boolean).join('\n').replace(/\x1b\[[0-9;]*m/g, '');
  return text.length > 6000 ? `${text.slice(0, 6000)}…` : text;
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
