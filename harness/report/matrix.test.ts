import { describe, expect, test } from 'vitest';
import { renderJUnit } from './junit.ts';
import { MatrixReport, buildMatrix, combineAttempts, matrixFails, renderMarkdown, renderTable, summaryLine, type Cell } from './matrix.ts';

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
    expect(buildMatrix(cells, []).summary).toEqual({ pass: 2, fail: 1, skip: 1, xfail: 0, flaky: 0 });
    const allSkipped = buildMatrix([{ scenario: 'exec', kernel: '5.4', status: 'skip', durationMs: 1 }], ['5.4']);
    expect(allSkipped.summary).toEqual({ pass: 0, fail: 0, skip: 1, xfail: 0, flaky: 0 });
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
    expect(report.summary).toEqual({ pass: 1, fail: 0, skip: 0, xfail: 1, flaky: 0 });
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

describe('a cell retried after a failure', () => {
  const first: Cell = {
    scenario: 'exec', kernel: '6.1', status: 'fail', durationMs: 12_000,
    reason: 'kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
    attempts: [{ status: 'fail', durationMs: 12_000, reason: 'kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25', message: 'kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25\n  at exec.test.ts:12', vm: '6.1#1', console: 'out/runs/r/consoles/6.1-vm1.log' }],
  };
  const passed: Cell = {
    scenario: 'exec', kernel: '6.1', status: 'pass', durationMs: 10_000,
    attempts: [{ status: 'pass', durationMs: 10_000, vm: 'retry-6.1#1', console: 'out/runs/r/consoles/retry-6.1-vm1.log' }],
  };
  const failedAgain: Cell = {
    scenario: 'exec', kernel: '6.1', status: 'fail', durationMs: 9_000, reason: 'kernel 6.1: loader died of SIGSEGV',
    attempts: [{ status: 'fail', durationMs: 9_000, reason: 'kernel 6.1: loader died of SIGSEGV', message: 'kernel 6.1: loader died of SIGSEGV', vm: 'retry-6.1#1' }],
  };

  test('fail, then pass, is flaky, never a pass, with both attempts kept', () => {
    const cell = combineAttempts(first, passed);
    expect(cell.status).toBe('flaky');
    expect(cell.reason).toBe('failed, then passed on a retry on a fresh VM; 1st attempt: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25');
    expect(cell.attempts!.map((a) => [a.status, a.vm])).toEqual([['fail', '6.1#1'], ['pass', 'retry-6.1#1']]);
    expect(cell.attempts![0]!.message).toContain('at exec.test.ts:12');
    expect(cell.durationMs).toBe(22_000);
    const report = buildMatrix([cell], ['6.1']);
    expect(report.summary).toEqual({ pass: 0, fail: 0, skip: 0, xfail: 0, flaky: 1 });
    expect(summaryLine(report)).toBe('matrix: 0 passed, 0 failed, 1 flaky (failed, then passed on a retry), 0 skipped (1 scenarios × 1 kernels)');
    expect(MatrixReport.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  test('fail twice is a failure with both messages', () => {
    const cell = combineAttempts(first, failedAgain);
    expect(cell.status).toBe('fail');
    expect(cell.reason).toBe('failed twice; 1st attempt: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25; 2nd attempt, on a fresh VM: kernel 6.1: loader died of SIGSEGV');
    expect(cell.attempts!.map((a) => a.message)).toEqual([first.attempts![0]!.message, 'kernel 6.1: loader died of SIGSEGV']);
  });

  test('a retry that skips or fails as expected does not make the first failure a pass', () => {
    expect(combineAttempts(first, { ...passed, status: 'skip', reason: 'needs 5.8' }).status).toBe('flaky');
    expect(combineAttempts(first, { ...passed, status: 'xfail', reason: 'wrong ppid caught' }).status).toBe('flaky');
  });

  test('a flaky cell fails the matrix unless flaky cells are allowed; a failure always does', () => {
    const flaky = buildMatrix([passed, { ...combineAttempts(first, passed), scenario: 'tcp' }], ['6.1']);
    expect(matrixFails(flaky, 'block')).toBe(true);
    expect(matrixFails(flaky, 'allow')).toBe(false);
    expect(matrixFails(buildMatrix([combineAttempts(first, failedAgain)], ['6.1']), 'allow')).toBe(true);
    expect(matrixFails(buildMatrix([passed], ['6.1']), 'block')).toBe(false);
  });

  test('the terminal table says FLAKY, and lists each attempt with its VM and console', () => {
    const table = renderTable(buildMatrix([combineAttempts(first, passed)], ['6.1']));
    expect(table.split('\n')).toEqual([
      'scenario  6.1',
      '--------  -----------',
      'exec      FLAKY 22.0s',
      '',
      '  exec on 6.1: flaky: failed, then passed on a retry on a fresh VM; 1st attempt: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
      '    attempt 1: fail 12.0s on VM 6.1#1: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25 (console: out/runs/r/consoles/6.1-vm1.log)',
      '    attempt 2: pass 10.0s on VM retry-6.1#1 (console: out/runs/r/consoles/retry-6.1-vm1.log)',
      '',
      'matrix: 0 passed, 0 failed, 1 flaky (failed, then passed on a retry), 0 skipped (1 scenarios × 1 kernels)',
    ]);
  });

  test('matrix.md marks the cell flaky and shows every attempt\'s failure in full', () => {
    const md = renderMarkdown(buildMatrix([combineAttempts(first, passed)], ['6.1']));
    expect(md).toContain('| exec | ⚠️ flaky 22.0 s |');
    expect(md).toContain('- **exec** on **6.1** (flaky): failed, then passed on a retry on a fresh VM; 1st attempt: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25');
    expect(md).toContain(
      [
        '#### exec on 6.1: flaky',
        '',
        '1. **fail** in 12.0 s (VM `6.1#1`, console `out/runs/r/consoles/6.1-vm1.log`)',
        '',
        '   ```',
        '   kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
        '     at exec.test.ts:12',
        '   ```',
        '',
        '2. **pass** in 10.0 s (VM `retry-6.1#1`, console `out/runs/r/consoles/retry-6.1-vm1.log`)',
      ].join('\n'),
    );
  });

  test('JUnit: a failure by default, a Surefire flakyFailure when allowed; both attempts in system-out', () => {
    const report = buildMatrix([combineAttempts(first, passed)], ['6.1']);
    const blocking = renderJUnit(report);
    expect(blocking).toContain('<testsuite name="kernel 6.1" tests="1" failures="1" skipped="0">');
    expect(blocking).toContain('<failure message="flaky: failed, then passed on a retry on a fresh VM; 1st attempt: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25">attempt 1: fail in 12.0 s on VM 6.1#1');
    expect(blocking).toMatch(/<system-out>attempt 1: fail .*\nkernel 6.1: map .*\n  at exec.test.ts:12\n\nattempt 2: pass in 10.0 s on VM retry-6.1#1 .*<\/system-out>/);
    const allowed = renderJUnit(report, { flaky: 'allow' });
    expect(allowed).toContain('failures="0"');
    expect(allowed).not.toContain('<failure');
    expect(allowed).toContain('<flakyFailure message="kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25" type="failure">kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25\n  at exec.test.ts:12</flakyFailure>');
  });
});
