import type { Cell, FlakyPolicy, MatrixReport } from './matrix.ts';
import { figuresJUnitProperties } from './figures-render.ts';

/**
 * JUnit XML: one testsuite per kernel, one testcase per scenario; the
 * kernel's per-program figures as its properties. A flaky cell is a
 * `<failure>` unless the config allows flaky cells (`gate.flaky`); then, as Maven
 * Surefire writes a test that passed on a rerun, a `<flakyFailure>` with the
 * first attempt's failure. Either way `<system-out>` has every attempt.
 */
export function renderJUnit(report: MatrixReport, options: { flaky?: FlakyPolicy } = {}): string {
  const flakyFails = (options.flaky ?? 'block') === 'block';
  const suites = report.kernels.map((kernel) => {
    const cells = report.cells.filter((c) => c.kernel === kernel);
    const cases = cells.map((c) => {
      const body =
        c.status === 'fail'
          ? failure(c.reason ?? '', c)
          : c.status === 'flaky'
            ? flakyFails
              ? failure(`flaky: ${c.reason ?? ''}`, c)
              : `${firstFailure(c)}${attemptsOut(c)}`
            : c.status === 'skip'
              ? `<skipped message="${xml(c.reason ?? '')}"/>`
              : c.status === 'xfail'
                ? `<system-out>expected failure: ${xml(c.reason ?? '')}</system-out>`
                : '';
      return `    <testcase classname="kernel ${xml(kernel)}" name="${xml(c.scenario)}" time="${(c.durationMs / 1000).toFixed(3)}">${body}</testcase>`;
    });
    const failures = cells.filter((c) => c.status === 'fail' || (flakyFails && c.status === 'flaky')).length;
    const skipped = cells.filter((c) => c.status === 'skip').length;
    const properties = figuresJUnitProperties(report.figures[kernel], xml);
    return `  <testsuite name="kernel ${xml(kernel)}" tests="${cells.length}" failures="${failures}" skipped="${skipped}">\n${properties}${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="kmatrix">\n${suites.join('\n')}\n</testsuites>\n`;
}

function failure(message: string, c: Cell): string {
  if (!c.attempts?.length) return `<failure message="${xml(message)}"/>`;
  if (c.attempts.length === 1) return c.attempts[0]!.message ? `<failure message="${xml(message)}">${xml(c.attempts[0]!.message)}</failure>` : `<failure message="${xml(message)}"/>`;
  return `<failure message="${xml(message)}">${xml(attemptsText(c))}</failure>${attemptsOut(c)}`;
}

/** Every attempt of a cell run more than once, with its failure in full. */
function attemptsText(c: Cell): string {
  return (c.attempts ?? [])
    .map((a, i) => `attempt ${i + 1}: ${a.status} in ${(a.durationMs / 1000).toFixed(1)} s${a.vm ? ` on VM ${a.vm}` : ''}${a.console ? ` (console: ${a.console})` : ''}${a.message ?? a.reason ? `\n${a.message ?? a.reason}` : ''}`)
    .join('\n\n');
}

function attemptsOut(c: Cell): string {
  return c.attempts?.length ? `<system-out>${xml(attemptsText(c))}</system-out>` : '';
}

function firstFailure(c: Cell): string {
  const failed = c.attempts?.find((a) => a.status === 'fail');
  return `<flakyFailure message="${xml(failed?.reason ?? c.reason ?? '')}" type="failure">${xml(failed?.message ?? '')}</flakyFailure>`;
}

function xml(text: string): string {
  // Control characters (ANSI colours in error messages) are not allowed in XML 1.0.
  return text
    .replace(/\x1b\[[0-9;]*m/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '')
    .replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
