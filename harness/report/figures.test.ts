import { describe, expect, test } from 'vitest';
import { parseLoaderLine, type ErrorLine, type ReadyLine, type StatsLine } from '../loader/protocol.ts';
import { addFigures, combineFigures, figuresOfFailure, figuresOfSession, mergeFigureSets, programKey, type FiguresByKernel, type ProgramFigures } from './figures.ts';
import { figuresJUnitProperties, figuresMarkdown, figuresTerminal, formatNs, verifierCell } from './figures-render.ts';
import { buildMatrix, MatrixReport, renderMarkdown, renderTable } from './matrix.ts';
import { renderJUnit } from './junit.ts';

// Lines as the loader prints them: 5.10 has no verified_insns (the count is the log's), 6.1 has.
const READY_5_10 = parseLoaderLine(
  '{"v":1,"kind":"ready","programs":[{"name":"sched_process_exec","type":"tracepoint","attach":"sched/sched_process_exec"}],"maps":[],"kernel":"5.10.0-32-cloud-amd64",' +
    '"verifier":{"sched_process_exec":{"verifiedInsns":71,"insnsSource":"log","totalStates":5,"peakStates":5,"maxStatesPerInsn":0,"verificationUs":900,"loadMs":4.2}}}',
) as ReadyLine;
const READY_6_1 = parseLoaderLine(
  JSON.stringify({ ...READY_5_10, kernel: '6.1.0-56-cloud-amd64', verifier: { sched_process_exec: { verifiedInsns: 73, insnsSource: 'kernel', totalStates: 6, peakStates: 6, maxStatesPerInsn: 0, loadMs: 5 } } }),
) as ReadyLine;
const STATS = parseLoaderLine(
  '{"v":1,"kind":"stats","events":25,"perMap":{"EXEC_EVENTS":25},"runs":{"enabled":true,"programs":{"sched_process_exec":{"runCount":40,"runTimeNs":200000}}}}',
) as StatsLine;
const REFUSED = parseLoaderLine(
  '{"v":1,"kind":"error","stage":"verify","message":"loading program loop_execs: BPF_PROG_LOAD failed: Invalid argument","program":"loop_execs",' +
    '"verifierLog":"unknown func bpf_loop#181\\n","verifier":{"verifiedInsns":12,"insnsSource":"log","totalStates":1,"peakStates":1,"maxStatesPerInsn":0}}',
) as ErrorLine;

describe('figures of a session', () => {
  test('verifier figures from ready, runs from stats, keyed by object and program', () => {
    const [f] = figuresOfSession('exec', READY_5_10, STATS);
    expect(f).toEqual({
      object: 'exec', program: 'sched_process_exec', outcome: 'loaded',
      verifiedInsns: 71, insnsSource: 'log', totalStates: 5, peakStates: 5, maxStatesPerInsn: 0, verificationUs: 900, loadMs: 4.2,
      runCount: 40, runTimeNs: 200000, loads: 1, failures: 0, scenarios: [],
    });
    expect(programKey(f!)).toBe('exec/sched_process_exec');
  });

  test('a session never stopped has no run figures; stats refused says why', () => {
    expect(figuresOfSession('exec', READY_6_1, undefined)[0]).not.toHaveProperty('runCount');
    const off = { ...STATS, runs: { enabled: false as const, reason: 'BPF_ENABLE_STATS: Invalid argument' } };
    expect(figuresOfSession('exec', READY_6_1, off)[0]).toMatchObject({ runsOff: 'BPF_ENABLE_STATS: Invalid argument' });
  });

  test('a refused program: its stage and how far the verifier got; a failure about no program is none', () => {
    expect(figuresOfFailure('gate', REFUSED)).toMatchObject({ program: 'loop_execs', outcome: 'failed', failedAt: 'verify', verifiedInsns: 12, failures: 1, loads: 0 });
    expect(figuresOfFailure('gate', { ...REFUSED, program: undefined })).toBeUndefined();
  });
});

describe('combining observations of a program on a kernel', () => {
  const loaded = (over: Partial<ProgramFigures> = {}): ProgramFigures => ({ ...figuresOfSession('exec', READY_6_1, STATS)[0]!, ...over });

  test('runs add up, verifier counts and load time are the largest', () => {
    const c = combineFigures(loaded({ scenarios: ['exec'] }), loaded({ verifiedInsns: 80, loadMs: 2, runCount: 10, runTimeNs: 100, scenarios: ['logs'] }));
    expect(c).toMatchObject({ verifiedInsns: 80, loadMs: 5, runCount: 50, runTimeNs: 200100, loads: 2, scenarios: ['exec', 'logs'] });
  });

  test('a load that got to ready wins over a failure, which is still counted', () => {
    const failed = figuresOfFailure('exec', { ...REFUSED, stage: 'attach', program: 'sched_process_exec', verifier: undefined })!;
    for (const c of [combineFigures(failed, loaded()), combineFigures(loaded(), failed)]) {
      expect(c).toMatchObject({ outcome: 'loaded', loads: 1, failures: 1, verifiedInsns: 73 });
      expect(c).not.toHaveProperty('failedAt');
    }
  });

  test('addFigures keys by kernel and object/program, and names the scenarios', () => {
    const all: FiguresByKernel = {};
    addFigures(all, '6.1', 'exec', figuresOfSession('exec', READY_6_1, STATS));
    addFigures(all, '6.1', 'logs', figuresOfSession('exec', READY_6_1, STATS));
    addFigures(all, '5.10', 'exec', figuresOfSession('exec', READY_5_10, STATS));
    expect(Object.keys(all)).toEqual(['6.1', '5.10']);
    expect(all['6.1']!['exec/sched_process_exec']).toMatchObject({ loads: 2, runCount: 80, scenarios: ['exec', 'logs'] });
    // Merging reports of one kernel each changes nothing.
    expect(mergeFigureSets([{ '6.1': all['6.1']! }, { '5.10': all['5.10']! }])).toEqual({ '6.1': all['6.1'], '5.10': all['5.10'] });
  });
});

describe('rendering', () => {
  const all: FiguresByKernel = {};
  addFigures(all, '5.10', 'exec', figuresOfSession('exec', READY_5_10, STATS));
  addFigures(all, '6.1', 'exec', figuresOfSession('exec', READY_6_1, STATS));
  addFigures(all, '5.10', 'gate', [figuresOfFailure('gate', REFUSED)!]);

  test('cells: the source of a count from the log is marked, a refusal names its stage', () => {
    expect(verifierCell(all['5.10']!['exec/sched_process_exec'])).toBe('71ˡ · 5 (5)');
    expect(verifierCell(all['6.1']!['exec/sched_process_exec'])).toBe('73 · 6 (6)');
    expect(verifierCell(all['5.10']!['gate/loop_execs'])).toBe('failed at verify (12ˡ · 1 (1))');
    expect(verifierCell(undefined)).toBe('–');
    expect([formatNs(850), formatNs(5000), formatNs(2.5e6)]).toEqual(['850 ns', '5.0 µs', '2.5 ms']);
  });

  test('Markdown: a program × kernel verifier table, then load and runs per kernel', () => {
    const md = figuresMarkdown(all, ['5.10', '6.1']).join('\n');
    expect(md).toContain('| program | 5.10 | 6.1 |\n|---|---|---|\n| `exec/sched_process_exec` | 71ˡ · 5 (5) | 73 · 6 (6) |\n| `gate/loop_execs` | failed at verify (12ˡ · 1 (1)) | – |');
    expect(md).toContain('| `exec/sched_process_exec` | 6.1 | loaded ×1 | 5 ms | 40 | 5.0 µs | exec |');
    expect(md).toMatch(/relative/);
    expect(figuresMarkdown({}, ['6.1'])).toEqual([]);
  });

  test('terminal: one compact row per program', () => {
    const tailCalled = { ...all['6.1']!['exec/sched_process_exec']!, program: 'on_even', runCount: 0, runTimeNs: 0 };
    expect(figuresTerminal({ '6.1': { 'exec/on_even': tailCalled } }, ['6.1']).at(-1)).toMatch(/exec\/on_even\s+73·6 \(6\) 5 ms, 0 runs$/);
    const lines = figuresTerminal(all, ['5.10', '6.1']);
    expect(lines.find((l) => l.includes('exec/sched_process_exec'))).toMatch(/71ˡ·5 \(5\) 4\.2 ms, 40×5\.0 µs\s+73·6 \(6\) 5 ms, 40×5\.0 µs$/);
  });

  test('JUnit: properties of the kernel\'s testsuite', () => {
    const props = figuresJUnitProperties(all['5.10'], (t) => t);
    expect(props).toContain('<property name="figures.exec/sched_process_exec.verifiedInsns" value="71"/>');
    expect(props).toContain('<property name="figures.exec/sched_process_exec.insnsSource" value="log"/>');
    expect(props).toContain('<property name="figures.gate/loop_execs.failedAt" value="verify"/>');
    expect(figuresJUnitProperties(undefined, (t) => t)).toBe('');
  });

  test('in the whole report: matrix.json keeps them typed, every format shows them', () => {
    const cells = [
      { scenario: 'exec', kernel: '5.10', status: 'pass' as const, durationMs: 1 },
      { scenario: 'exec', kernel: '6.1', status: 'pass' as const, durationMs: 1 },
    ];
    const report = buildMatrix(cells, ['5.10', '6.1'], {}, {}, all);
    expect(MatrixReport.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(MatrixReport.parse({ ...report, figures: undefined }).figures).toEqual({});
    expect(renderMarkdown(report)).toContain('### Verifier per program');
    expect(renderTable(report)).toContain('exec/sched_process_exec');
    const junit = renderJUnit(report);
    expect(junit).toContain('<testsuite name="kernel 5.10" tests="1" failures="0" skipped="0">\n    <properties>\n      <property name="figures.exec/sched_process_exec.outcome" value="loaded"/>');
    expect(junit).toContain('<property name="figures.exec/sched_process_exec.verifiedInsns" value="73"/>');
  });
});
