import { describe, expect, test } from 'vitest';
import { renderJUnit } from './junit.ts';
import { MatrixReport, buildMatrix, renderMarkdown, renderTable, summaryLine, type Cell } from './matrix.ts';

const cells: Cell[] = [
  { scenario: 'exec', kernel: '6.12', status: 'pass', durationMs: 41_250 },
  { scenario: 'exec', kernel: '5.10', status: 'skip', reason: 'needs kernel ≥ 5.8 (BPF_MAP_TYPE_RINGBUF); 5.4 is 5.4.0-1', durationMs: 30_000 },
  { scenario: 'exec', kernel: '6.1', status: 'pass', durationMs: 38_040 },
  { scenario: 'counters', kernel: '6.1', status: 'fail', reason: 'kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25', durationMs: 12_345 },
];

describe('buildMatrix', () => {
  test('kernels follow the given order, scenarios are sorted', () => {
    const report = buildMatrix(cells, ['5.10', '6.1', '6.12']);
    expect(report.kernels).toEqual(['5.10', '6.1', '6.12']);
    expect(report.scenarios).toEqual(['counters', 'exec']);
    expect(MatrixReport.parse(report)).toEqual(report);
  });

  test('a kernel in the order with no cells is left out; one missing from the order goes last', () => {
    expect(buildMatrix(cells, ['4.19', '6.12', '6.1']).kernels).toEqual(['6.12', '6.1', '5.10']);
  });

  test('a skip is counted as a skip, never as a pass', () => {
    expect(buildMatrix(cells, []).summary).toEqual({ pass: 2, fail: 1, skip: 1, xfail: 0 });
    const allSkipped = buildMatrix([{ scenario: 'exec', kernel: '5.4', status: 'skip', durationMs: 1 }], ['5.4']);
    expect(allSkipped.summary).toEqual({ pass: 0, fail: 0, skip: 1, xfail: 0 });
    expect(summaryLine(allSkipped)).toBe('matrix: 0 passed, 0 failed, 1 skipped (1 scenarios × 1 kernels)');
  });

  test('an expected failure is counted on its own, neither pass nor failure', () => {
    const report = buildMatrix(
      [
        { scenario: 'task-fixed', kernel: '6.1', status: 'pass', durationMs: 1 },
        { scenario: 'task-fixed', kernel: '6.12', status: 'xfail', reason: 'wrong ppid caught', durationMs: 1 },
      ],
      ['6.1', '6.12'],
    );
    expect(report.summary).toEqual({ pass: 1, fail: 0, skip: 0, xfail: 1 });
    expect(summaryLine(report)).toBe('matrix: 1 passed, 0 failed, 0 skipped, 1 failed as expected (1 scenarios × 2 kernels)');
  });

  test('offsets per kernel become a field × kernel table', () => {
    const taskCells: Cell[] = [
      { scenario: 'task', kernel: '5.10', status: 'pass', durationMs: 1 },
      { scenario: 'task', kernel: '6.1', status: 'pass', durationMs: 1 },
    ];
    const report = buildMatrix(taskCells, ['5.10', '6.1'], {
      '5.10': { 'task_struct.tgid': 2216 },
      '6.1': { 'task_struct.tgid': 2456, 'task_struct.real_parent': 2472 },
    });
    expect(renderTable(report)).toContain(
      [
        'struct field offsets (bytes, from each kernel\'s BTF):',
        '  field                    5.10  6.1',
        '  task_struct.real_parent  -     2472',
        '  task_struct.tgid         2216  2456',
      ].join('\n'),
    );
    expect(renderMarkdown(report)).toContain('| `task_struct.tgid` | 2216 | 2456 |');
  });
});

describe('renderTable', () => {
  test('columns in kernel order, a dash for a missing cell, reasons and summary below', () => {
    const report = buildMatrix(cells, ['5.10', '6.1', '6.12']);
    expect(renderTable(report)).toBe(
      [
        'scenario  5.10        6.1         6.12',
        '--------  ----------  ----------  ----------',
        'counters  -           FAIL 12.3s  -',
        'exec      skip 30.0s  pass 38.0s  pass 41.3s',
        '',
        '  exec on 5.10: skip: needs kernel ≥ 5.8 (BPF_MAP_TYPE_RINGBUF); 5.4 is 5.4.0-1',
        '  counters on 6.1: fail: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
        '',
        'matrix: 2 passed, 1 failed, 1 skipped (2 scenarios × 3 kernels)',
      ].join('\n'),
    );
  });
});

describe('renderMarkdown', () => {
  test('a GitHub table with one column per kernel, notes and the summary', () => {
    const md = renderMarkdown(buildMatrix(cells, ['5.10', '6.1', '6.12']));
    expect(md.split('\n')).toEqual([
      '## Kernel matrix',
      '',
      '| scenario | 5.10 | 6.1 | 6.12 |',
      '|---|---|---|---|',
      '| counters | – | ❌ fail 12.3 s | – |',
      '| exec | ⏭️ skip 30.0 s | ✅ pass 38.0 s | ✅ pass 41.3 s |',
      '',
      '- **exec** on **5.10** (skip): needs kernel ≥ 5.8 (BPF_MAP_TYPE_RINGBUF); 5.4 is 5.4.0-1',
      '- **counters** on **6.1** (fail): kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
      '',
      'matrix: 2 passed, 1 failed, 1 skipped (2 scenarios × 3 kernels)',
      '',
    ]);
  });
});

describe('renderJUnit', () => {
  const report = buildMatrix(
    [
      { scenario: 'exec', kernel: '6.1', status: 'pass', durationMs: 38_040 },
      { scenario: 'maps<u32>', kernel: '6.1', status: 'fail', reason: 'expected "a" & <b>', durationMs: 1_500 },
      { scenario: 'exec', kernel: '5.4', status: 'skip', reason: "needs kernel ≥ 5.8; 5.4 isn't", durationMs: 2 },
    ],
    ['5.4', '6.1'],
  );
  const xml = renderJUnit(report);

  test('one testsuite per kernel with counts, in kernel order', () => {
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="kmatrix">\n/);
    expect(xml).toContain('<testsuite name="kernel 5.4" tests="1" failures="0" skipped="1">');
    expect(xml).toContain('<testsuite name="kernel 6.1" tests="2" failures="1" skipped="0">');
    expect(xml.indexOf('kernel 5.4')).toBeLessThan(xml.indexOf('kernel 6.1'));
    expect(xml.endsWith('</testsuites>\n')).toBe(true);
  });

  test('a pass is an empty testcase with its time in seconds', () => {
    expect(xml).toContain('<testcase classname="kernel 6.1" name="exec" time="38.040"></testcase>');
  });

  test('failure and skipped elements carry the escaped reason', () => {
    expect(xml).toContain(
      '<testcase classname="kernel 6.1" name="maps&#60;u32&#62;" time="1.500"><failure message="expected &#34;a&#34; &#38; &#60;b&#62;"/></testcase>',
    );
    expect(xml).toContain('<skipped message="needs kernel ≥ 5.8; 5.4 isn&#39;t"/>');
  });

  test('colour codes and control characters in a reason do not make the XML invalid', () => {
    const coloured = renderJUnit(
      buildMatrix([{ scenario: 'exec', kernel: '6.1', status: 'fail', reason: '\x1b[31mred\x1b[39m\x07 bell', durationMs: 1 }], ['6.1']),
    );
    expect(coloured).toContain('<failure message="red bell"/>');
  });

  test('no raw markup characters leak into attribute values', () => {
    for (const [, value] of xml.matchAll(/="([^"]*)"/g)) expect(value).not.toMatch(/[<>&](?!#\d+;)/);
  });
});
