import { describe, expect, test } from 'vitest';
import { buildMatrix, type Cell, type MatrixReport } from '../report/matrix.ts';
import type { FiguresByKernel, ProgramFigures } from '../report/figures.ts';
import { baselineOf, checkBaselineAgainstLock, compareKernelNames, formatBaseline, GateInputError, parseBaseline, type Baseline } from './baseline.ts';
import { compareWithBaseline, GATE_DEFAULTS, type GateOptions } from './compare.ts';
import { renderGate } from './render.ts';
import { classOf } from './verdicts.ts';

// A hand-made run: two kernels, three scenarios, three programs. `gate/loop_execs`
// (bpf_loop) is refused on 5.10 at verify and loads on 6.1, as in the real matrix.
const cell = (scenario: string, kernel: string, status: string, reason?: string): Cell =>
  ({ scenario, kernel, status, durationMs: 1234, ...(reason ? { reason } : {}) }) as Cell;

const program = (key: string, over: Partial<ProgramFigures> = {}): ProgramFigures => {
  const [object, name] = key.split('/') as [string, string];
  return {
    object, program: name, outcome: 'loaded', verifiedInsns: 100, insnsSource: 'kernel', totalStates: 10, peakStates: 8, maxStatesPerInsn: 1,
    loadMs: 3.5, verificationUs: 420, runCount: 40, runTimeNs: 90_000, loads: 1, failures: 0, scenarios: [object], ...over,
  };
};

function run(over: { cells?: Cell[]; figures?: FiguresByKernel; kernels?: string[] } = {}): MatrixReport {
  const kernels = over.kernels ?? ['5.10', '6.1'];
  const cells = over.cells ?? kernels.flatMap((k) => [cell('exec', k, 'pass'), cell('gate', k, 'pass'), cell('task-fixed', k, k === '6.1' ? 'pass' : 'xfail', 'offsets moved')]);
  const figures: FiguresByKernel =
    over.figures ??
    Object.fromEntries(
      kernels.map((k) => [
        k,
        {
          'exec/sched_process_exec': program('exec/sched_process_exec', { insnsSource: k === '5.10' ? 'log' : 'kernel' }),
          'gate/loop_execs': k === '5.10' ? program('gate/loop_execs', { outcome: 'failed', failedAt: 'verify', verifiedInsns: 12, loads: 0, failures: 1 }) : program('gate/loop_execs', { verifiedInsns: 300 }),
          'task_fixed/task_fixed': program('task_fixed/task_fixed', { scenarios: ['task-fixed'] }),
        },
      ]),
    );
  return buildMatrix(cells, kernels, {}, {}, figures);
}

const BASE = baselineOf(run(), { source: 'a test report', releases: { '5.10': '5.10.0-32-cloud-amd64', '6.1': '6.1.0-56-cloud-amd64' } });
const gate = (report: MatrixReport, options: Partial<GateOptions> = {}, baseline: Baseline = BASE) => compareWithBaseline(baseline, report, { ...GATE_DEFAULTS, ...options });
const withFigure = (kernel: string, key: string, over: Partial<ProgramFigures>) => {
  const r = run();
  r.figures[kernel]![key] = { ...r.figures[kernel]![key]!, ...over };
  return r;
};

describe('the baseline file', () => {
  test('holds per kernel the verdicts and the verifier figures, sorted, without run times', () => {
    expect(BASE.version).toBe(1);
    expect(BASE.$comment).toMatch(/^Written by `kmatrix baseline save` from a test report \(2 kernels\); `kmatrix gate` compares/);
    expect(BASE.kernels['5.10']).toEqual({
      release: '5.10.0-32-cloud-amd64',
      cells: { exec: 'pass', gate: 'pass', 'task-fixed': 'xfail' },
      programs: {
        'exec/sched_process_exec': { outcome: 'loaded', verifiedInsns: 100, insnsSource: 'log', totalStates: 10, peakStates: 8, scenarios: ['exec'] },
        'gate/loop_execs': { outcome: 'failed', failedAt: 'verify', verifiedInsns: 12, insnsSource: 'kernel', totalStates: 10, peakStates: 8, scenarios: ['gate'] },
        'task_fixed/task_fixed': { outcome: 'loaded', verifiedInsns: 100, insnsSource: 'kernel', totalStates: 10, peakStates: 8, scenarios: ['task-fixed'] },
      },
    });
    const text = formatBaseline(BASE);
    expect(text).not.toMatch(/durationMs|loadMs|runTimeNs|runCount|verificationUs/);
    expect(text.endsWith('}\n')).toBe(true);
    // One line per program: a change to its figures is a one-line diff.
    expect(text).toContain(
      '\n        "exec/sched_process_exec": { "outcome": "loaded", "verifiedInsns": 100, "insnsSource": "log", "totalStates": 10, "peakStates": 8, "scenarios": ["exec"] },\n',
    );
    expect(text).toContain('\n        "task-fixed": "xfail"\n');
  });

  test('is the same file whatever order the run reported things in', () => {
    const r = run();
    const shuffled = { ...r, kernels: [...r.kernels].reverse(), cells: [...r.cells].reverse() };
    expect(formatBaseline(baselineOf(shuffled, { source: 'a test report', releases: { '5.10': '5.10.0-32-cloud-amd64', '6.1': '6.1.0-56-cloud-amd64' } }))).toBe(formatBaseline(BASE));
    expect(['7.3', '10.1', '6.12', '5.10', '6.1', '6.18'].sort(compareKernelNames)).toEqual(['5.10', '6.1', '6.12', '6.18', '7.3', '10.1']);
  });

  test('reads back what it wrote', () => {
    expect(parseBaseline('b.json', formatBaseline(BASE))).toEqual(BASE);
  });

  test('a bad or stale file is an error naming the file and what to do', () => {
    const err = (text: string) => {
      try {
        parseBaseline('kmatrix.baseline.json', text);
      } catch (e) {
        expect(e).toBeInstanceOf(GateInputError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err('{ nope')).toMatch(/^kmatrix\.baseline\.json is not valid JSON \(.*\); run the matrix on every kernel, then `kmatrix baseline save`/);
    expect(err('{"kernels":{}}')).toMatch(/^kmatrix\.baseline\.json is not a kmatrix baseline \(it has no "version"\)/);
    expect(err(JSON.stringify({ ...BASE, version: 2 }))).toMatch(
      /^kmatrix\.baseline\.json is stale: it is a baseline of schema version 2, and this kmatrix reads version 1; run the matrix on every kernel, then `kmatrix baseline save` to write it anew$/,
    );
    const broken = JSON.parse(formatBaseline(BASE));
    broken.kernels['6.1'].cells.exec = 'passed';
    expect(err(JSON.stringify(broken))).toMatch(/does not match the baseline schema \(version 1\):[\s\S]*kernels\["6\.1"\]\.cells\.exec[\s\S]*kmatrix baseline save/);
  });

  test('naming a kernel the lock no longer has, it is stale', () => {
    expect(() => checkBaselineAgainstLock('kmatrix.baseline.json', BASE, ['6.1', '7.4'], 'images/kernels.lock.json')).toThrow(
      'kmatrix.baseline.json is stale: it names kernel 5.10, which images/kernels.lock.json no longer has (it has 6.1, 7.4); run the matrix on every kernel, then `kmatrix baseline save` to write it anew',
    );
    expect(() => checkBaselineAgainstLock('b', BASE, ['5.10', '6.1', '7.4'], 'lock')).not.toThrow();
  });

  test('a status the gate does not know is refused when saving', () => {
    expect(() => baselineOf(run({ cells: [cell('exec', '6.1', 'maybe')], kernels: ['6.1'] }), { source: 'r.json' })).toThrow('r.json: exec on 6.1 has status "maybe", which this kmatrix\'s gate does not know');
  });
});

describe('the gate', () => {
  test('the same run passes, nothing to say', () => {
    const result = gate(run());
    expect(result).toMatchObject({ blocking: [], improvements: [], notes: [], compared: ['5.10', '6.1'], leftOut: [] });
  });

  test('verified instructions grown beyond the threshold block, naming program, kernel and growth', () => {
    const result = gate(withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 111 }));
    expect(result.blocking).toEqual([
      {
        kernel: '6.1', subject: 'exec/sched_process_exec', kind: 'program',
        change: 'verified instructions 100 → 111 (+11.0 %), more than the 10 % allowed',
        figure: { name: 'verifiedInsns', before: 100, after: 111, growthPct: expect.closeTo(11, 5) },
      },
    ]);
  });

  test('growth up to the threshold is a note; the threshold is configurable; states count too', () => {
    expect(gate(withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 110 })).blocking).toEqual([]);
    expect(gate(withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 110 })).notes[0]!.change).toBe('verified instructions 100 → 110 (+10.0 %), within the 10 % allowed');
    expect(gate(withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 106 }), { threshold: 5 }).blocking).toHaveLength(1);
    const states = gate(withFigure('5.10', 'exec/sched_process_exec', { totalStates: 12, peakStates: 9 }));
    expect(states.blocking.map((f) => f.change)).toEqual(['states (total) 10 → 12 (+20.0 %), more than the 10 % allowed', 'states (peak) 8 → 9 (+12.5 %), more than the 10 % allowed']);
  });

  test('fewer instructions or states, a program that newly loads, a cell that newly passes: improvements, never blocking', () => {
    const r = withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 50 });
    r.figures['5.10']!['gate/loop_execs'] = program('gate/loop_execs', { verifiedInsns: 300 });
    const base = structuredClone(BASE);
    base.kernels['6.1']!.cells.gate = 'fail';
    const result = gate(r, {}, base);
    expect(result.blocking).toEqual([]);
    expect(result.improvements.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual([
      '5.10 gate/loop_execs: newly loads (failed at verify in the baseline)',
      '6.1 gate: fail → pass',
      '6.1 exec/sched_process_exec: verified instructions 100 → 50 (−50.0 %)',
    ]);
  });

  test('a cell that passed and now fails or skips blocks, with the first line of its reason', () => {
    const r = run();
    r.cells.find((c) => c.scenario === 'exec' && c.kernel === '6.1')!.status = 'fail';
    r.cells.find((c) => c.scenario === 'exec' && c.kernel === '6.1')!.reason = 'kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25\nmore lines';
    r.cells.find((c) => c.scenario === 'gate' && c.kernel === '5.10')!.status = 'skip';
    const result = gate(r);
    expect(result.blocking.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual([
      '5.10 gate: pass → skip: it proves nothing any more',
      '6.1 exec: pass → fail: kernel 6.1: map EXECS_BY_UID[4242] is 24, expected 25',
    ]);
  });

  test('a pass turned expected failure blocks; an expected failure that now passes is an improvement', () => {
    const r = run();
    r.cells.find((c) => c.scenario === 'task-fixed' && c.kernel === '6.1')!.status = 'xfail';
    r.cells.find((c) => c.scenario === 'task-fixed' && c.kernel === '5.10')!.status = 'pass';
    const result = gate(r);
    expect(result.blocking.map((f) => f.change)).toEqual(['pass → xfail: passed in the baseline, now fails (as its scenario foresees on some kernels): offsets moved']);
    expect(result.improvements.map((f) => `${f.kernel} ${f.change}`)).toEqual(['5.10 xfail → pass']);
  });

  test('a failure the baseline already has does not block again; a new scenario that fails does', () => {
    const r = run();
    r.cells.push(cell('new-one', '6.1', 'fail', 'boom'));
    const base = structuredClone(BASE);
    base.kernels['6.1']!.cells.exec = 'fail';
    r.cells.find((c) => c.scenario === 'exec' && c.kernel === '6.1')!.status = 'fail';
    const result = gate(r, {}, base);
    expect(result.blocking.map((f) => `${f.subject}: ${f.change}`)).toEqual(['new-one: new → fail: boom']);
    expect(result.notes.map((f) => `${f.subject}: ${f.change}`)).toEqual(['exec: still fails, as in the baseline']);
  });

  test('a flaky cell blocks by default, passes with --flaky allow; an unknown status is taken as a failure', () => {
    const r = run();
    r.cells.find((c) => c.scenario === 'exec' && c.kernel === '6.1')!.status = 'flaky' as Cell['status'];
    expect(gate(r).blocking.map((f) => f.change)).toEqual(['pass → flaky: passed only on a retry (let it through with --flaky allow)']);
    const allowed = gate(r, { flaky: 'allow' });
    expect(allowed.blocking).toEqual([]);
    expect(allowed.notes.map((f) => f.change)).toEqual(['pass → flaky: passed only on a retry, allowed by --flaky allow']);
    expect(classOf('flaky')).toBe('flaky');
    r.cells.find((c) => c.scenario === 'exec' && c.kernel === '6.1')!.status = 'timeout' as Cell['status'];
    expect(gate(r, { flaky: 'allow' }).blocking.map((f) => f.change)).toEqual(['pass → timeout: a status the gate does not know, taken as a failure']);
  });

  test('a program that newly fails to load blocks with its stage', () => {
    const result = gate(withFigure('6.1', 'gate/loop_execs', { outcome: 'failed', failedAt: 'verify' }));
    expect(result.blocking.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual(['6.1 gate/loop_execs: loaded in the baseline, now fails to load (at verify)']);
  });

  test('a program of the baseline the run never loaded blocks; a new one is a note, unless it fails to load', () => {
    const r = run();
    delete r.figures['6.1']!['task_fixed/task_fixed'];
    r.figures['6.1']!['exec/extra'] = program('exec/extra', { verifiedInsns: 7 });
    r.figures['5.10']!['exec/broken'] = program('exec/broken', { outcome: 'failed', failedAt: 'load' });
    const result = gate(r);
    expect(result.blocking.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual([
      '5.10 exec/broken: new, and fails to load (at load) (if intended, save the baseline again)',
      '6.1 task_fixed/task_fixed: loaded in the baseline, not loaded at all in the run (removed, renamed, or its scenario no longer loads it: if intended, save the baseline again)',
    ]);
    expect(result.notes.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual(['6.1 exec/extra: new, loads (7 verified instructions): not in the baseline']);
  });

  test('a kernel of the baseline missing from the run blocks, unless --kernel leaves it out explicitly', () => {
    const partial = run({ kernels: ['6.1'] });
    expect(gate(partial).blocking.map((f) => `${f.kernel}: ${f.change}`)).toEqual(['5.10: in the baseline, missing from the run (run it, or narrow the gate explicitly with --kernel)']);
    const narrowed = gate(partial, { kernels: ['6.1'] });
    expect(narrowed).toMatchObject({ blocking: [], compared: ['6.1'], leftOut: ['5.10'] });
    // Narrowing to a kernel the run lacks still blocks: it only says what to expect.
    expect(gate(partial, { kernels: ['5.10'] }).blocking).toHaveLength(1);
  });

  test('--scenario compares only those cells and the programs they load', () => {
    const r = run({ cells: ['5.10', '6.1'].map((k) => cell('exec', k, 'pass')) });
    for (const k of ['5.10', '6.1']) r.figures[k] = { 'exec/sched_process_exec': program('exec/sched_process_exec', { insnsSource: k === '5.10' ? 'log' : 'kernel', verifiedInsns: k === '6.1' ? 150 : 100 }) };
    const whole = gate(r);
    // Without it: each scenario not run blocks once, with the programs only it loads.
    expect(whole.blocking.map((f) => `${f.kernel} ${f.subject}`)).toEqual(['5.10 gate', '5.10 task-fixed', '6.1 gate', '6.1 task-fixed', '6.1 exec/sched_process_exec']);
    expect(whole.blocking[0]!.change).toBe(
      'pass in the baseline, no result in the run; nor its program gate/loop_execs (removed, renamed or not run: narrow with --scenario, or if intended, save the baseline again)',
    );
    expect(whole.partial).toEqual({ kernels: ['5.10', '6.1'], scenarios: ['exec'] });
    expect(renderGate(whole, { report: 'r', baseline: 'b' })).toContain(
      'Kernels or scenarios of the baseline have no result in this run. If it was a partial run on purpose, gate what it covers: `kmatrix gate --kernel 5.10,6.1 --scenario exec`.',
    );
    const narrowed = gate(r, { scenarios: ['exec'] });
    expect(narrowed.blocking.map((f) => `${f.kernel} ${f.subject}: ${f.change}`)).toEqual([
      '6.1 exec/sched_process_exec: verified instructions 100 → 150 (+50.0 %), more than the 10 % allowed',
    ]);
    expect(narrowed.partial).toBeUndefined();
  });

  test('a kernel in the run but not in the baseline is a note, not gated', () => {
    const r = run({ kernels: ['5.10', '6.1', '7.3'] });
    const result = gate(r);
    expect(result.blocking).toEqual([]);
    expect(result.notes.map((f) => `${f.kernel}: ${f.change}`)).toEqual(['7.3: in the run, not in the baseline: not gated (save the baseline again to gate it)']);
  });
});

describe('the Markdown', () => {
  test('a blocked gate: headline, what was compared, each section a table', () => {
    const r = withFigure('6.1', 'exec/sched_process_exec', { verifiedInsns: 412, totalStates: 9 });
    const text = renderGate(gate(run({ kernels: ['6.1'], figures: { '6.1': r.figures['6.1']! } }), { kernels: ['6.1'] }), { report: 'out/report/matrix.json', baseline: 'kmatrix.baseline.json' });
    expect(text).toBe(
      [
        '## Release gate: ❌ blocked by 1 change',
        '',
        '`out/report/matrix.json` against `kmatrix.baseline.json`: kernel compared: 6.1; growth allowed: 10 %; flaky cells: block.',
        '',
        'Narrowed by `--kernel 6.1`: 5.10 of the baseline not compared.',
        '',
        '### Blocking (1)',
        '',
        '| kernel | scenario or program | change |',
        '|---|---|---|',
        '| 6.1 | `exec/sched_process_exec` | verified instructions 100 → 412 (+312.0 %), more than the 10 % allowed |',
        '',
        '### Improvements (1)',
        '',
        '| kernel | scenario or program | change |',
        '|---|---|---|',
        '| 6.1 | `exec/sched_process_exec` | states (total) 10 → 9 (−10.0 %) |',
        '',
      ].join('\n'),
    );
  });

  test('a passing gate says nothing blocks; pipes in reasons do not break the table', () => {
    const r = run();
    r.cells.push(cell('extra', '6.1', 'skip', 'needs a | b'));
    const text = renderGate(gate(r), { report: 'r.json', baseline: 'b.json' });
    expect(text).toContain('## Release gate: ✅ passed\n');
    expect(text).toContain('### Blocking (0)\n\nNothing blocks.\n');
    expect(text).toContain('| 6.1 | `extra` | new → skip: not in the baseline: needs a \\| b |');
    expect(text).not.toContain('### Improvements');
  });
});
