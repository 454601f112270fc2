import type { MatrixReport } from './matrix.ts';
import { figuresJUnitProperties } from './figures-render.ts';

/** JUnit XML: one testsuite per kernel, one testcase per scenario; the kernel's per-program figures as its properties. */
export function renderJUnit(report: MatrixReport): string {
  const suites = report.kernels.map((kernel) => {
    const cells = report.cells.filter((c) => c.kernel === kernel);
    const cases = cells.map((c) => {
      const body =
        c.status === 'fail'
          ? `<failure message="${xml(c.reason ?? '')}"/>`
          : c.status === 'skip'
            ? `<skipped message="${xml(c.reason ?? '')}"/>`
            : c.status === 'xfail'
              ? `<system-out>expected failure: ${xml(c.reason ?? '')}</system-out>`
              : '';
      return `    <testcase classname="kernel ${xml(kernel)}" name="${xml(c.scenario)}" time="${(c.durationMs / 1000).toFixed(3)}">${body}</testcase>`;
    });
    const failures = cells.filter((c) => c.status === 'fail').length;
    const skipped = cells.filter((c) => c.status === 'skip').length;
    const properties = figuresJUnitProperties(report.figures[kernel], xml);
    return `  <testsuite name="kernel ${xml(kernel)}" tests="${cells.length}" failures="${failures}" skipped="${skipped}">\n${properties}${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="kmatrix">\n${suites.join('\n')}\n</testsuites>\n`;
}

function xml(text: string): string {
  // Control characters (ANSI colours in error messages) are not allowed in XML 1.0.
  return text
    .replace(/\x1b\[[0-9;]*m/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '')
    .replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
