import type { Finding, GateResult } from './compare.ts';

/**
 * The gate's verdict as Markdown, for the terminal and a GitHub job
 * summary: a headline, what was compared (and what an explicit narrowing
 * left out), then blocking changes, improvements and notes, each a table
 * of kernel, scenario or program, and the change.
 */
export function renderGate(result: GateResult, files: { report: string; baseline: string }): string {
  const { blocking, improvements, notes, options } = result;
  const n = blocking.length;
  const lines = [
    n ? `## Release gate: ❌ blocked by ${n} change${n > 1 ? 's' : ''}` : '## Release gate: ✅ passed',
    '',
    `\`${files.report}\` against \`${files.baseline}\`: ` +
      `kernel${result.compared.length === 1 ? '' : 's'} compared: ${result.compared.join(', ') || 'none'}; ` +
      `growth allowed: ${options.threshold} %; flaky cells: ${options.flaky === 'block' ? 'block' : 'allowed'}.`,
  ];
  if (result.leftOut.length) lines.push('', `Narrowed by \`--kernel ${options.kernels!.join(',')}\`: ${result.leftOut.join(', ')} of the baseline not compared.`);
  if (options.scenarios) lines.push('', `Narrowed by \`--scenario ${options.scenarios.join(',')}\`: only these scenarios' cells, and the programs they load, compared.`);
  if (result.partial) {
    const { kernels, scenarios } = result.partial;
    lines.push(
      '',
      `Kernels or scenarios of the baseline have no result in this run. If it was a partial run on purpose, gate what it covers: ` +
        `\`kmatrix gate --kernel ${kernels.join(',')} --scenario ${scenarios.join(',')}\`.`,
    );
  }
  lines.push('', `### Blocking (${n})`, '');
  lines.push(...(n ? table(blocking) : ['Nothing blocks.']));
  if (improvements.length) lines.push('', `### Improvements (${improvements.length})`, '', ...table(improvements));
  if (notes.length) lines.push('', `### Notes (${notes.length})`, '', ...table(notes));
  lines.push('');
  return lines.join('\n');
}

function table(findings: Finding[]): string[] {
  return [
    '| kernel | scenario or program | change |',
    '|---|---|---|',
    ...findings.map((f) => `| ${f.kernel} | ${f.subject ? `\`${f.subject}\`` : '(the kernel)'} | ${escapeCell(f.change)} |`),
  ];
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
