import { describe, expect, test } from 'vitest';
import { ProtocolError, parseLoaderLine } from './protocol.ts';

const READY =
  '{"v":1,"kind":"ready","programs":[{"name":"sched_process_exec","type":"tracepoint","attach":"sched/sched_process_exec"}],' +
  '"maps":["EXEC_EVENTS","EXECS_BY_UID","EXEC_DROPPED"],"kernel":"6.1.0-56-cloud-amd64"}';
const EVENT =
  '{"v":1,"kind":"event","map":"EXEC_EVENTS","type":"ExecEvent","fields":{"pid":1234,"tgid":1234,"uid":4242,"gid":4343,"comm":"kmx-exec-probe"}}';
const UNDECODED =
  '{"v":1,"kind":"event","map":"EXEC_EVENTS","type":"ExecEvent","fields":null,"error":"record is 12 bytes, ExecEvent is 32 bytes","raw":"d2040000d2040000921000"}';
const MAP =
  '{"v":1,"kind":"map","name":"EXECS_BY_UID","mapType":"HashMap","entries":[{"key":4242,"value":25},{"key":0,"value":"18446744073709551615"}]}';
const PERCPU = '{"v":1,"kind":"map","name":"EXEC_DROPPED","mapType":"PerCpuArray","entries":[{"key":0,"value":[0,0]}]}';
const LOG = '{"v":1,"kind":"log","level":"info","target":"exec","message":"exec by uid 4242"}';
const STATS = '{"v":1,"kind":"stats","events":25,"perMap":{"EXEC_EVENTS":25}}';
const STATS_BIG = '{"v":1,"kind":"stats","events":"18446744073709551615","perMap":{"EXEC_EVENTS":"18446744073709551615"}}';
const VERIFY_ERROR =
  '{"v":1,"kind":"error","stage":"verify","message":"loading program sched_process_exec: the BPF_PROG_LOAD syscall failed",' +
  '"verifierLog":"0: R1=ctx(off=0,imm=0) R10=fp0\\n0: (bf) r6 = r1\\ninvalid mem access \'scalar\'\\n"}';

/** The ProtocolError thrown for `line`, to look at its message. */
function protocolError(line: string): ProtocolError {
  try {
    parseLoaderLine(line);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error(`accepted: ${line}`);
}

describe('parseLoaderLine', () => {
  test('ready', () => {
    const line = parseLoaderLine(READY);
    expect(line).toEqual(JSON.parse(READY));
    expect(line.kind).toBe('ready');
  });

  test('event, decoded and undecoded', () => {
    expect(parseLoaderLine(EVENT)).toMatchObject({ kind: 'event', fields: { pid: 1234, comm: 'kmx-exec-probe' } });
    expect(parseLoaderLine(UNDECODED)).toMatchObject({ kind: 'event', fields: null, raw: 'd2040000d2040000921000' });
  });

  test('map, with plain, u64-as-string and per-CPU values', () => {
    expect(parseLoaderLine(MAP)).toEqual(JSON.parse(MAP));
    expect(parseLoaderLine(PERCPU)).toMatchObject({ kind: 'map', entries: [{ key: 0, value: [0, 0] }] });
  });

  test('log', () => {
    expect(parseLoaderLine(LOG)).toEqual({ v: 1, kind: 'log', level: 'info', target: 'exec', message: 'exec by uid 4242' });
  });

  test('stats, numbers or decimal strings for u64', () => {
    expect(parseLoaderLine(STATS)).toMatchObject({ kind: 'stats', events: 25, perMap: { EXEC_EVENTS: 25 } });
    expect(parseLoaderLine(STATS_BIG)).toMatchObject({ events: '18446744073709551615' });
  });

  test('error with its verifier log', () => {
    const line = parseLoaderLine(VERIFY_ERROR);
    expect(line).toMatchObject({ kind: 'error', stage: 'verify' });
    expect(line.kind === 'error' && line.verifierLog).toContain("invalid mem access 'scalar'");
  });

  test('verifier figures on ready, run figures on stats, a refused program on error', () => {
    // As the loader printed them on 6.18.
    const ready = READY.replace(
      /}$/,
      ',"timings":{"loadMs":1.0,"verifyMs":0.3,"attachMs":2.1},"verifier":{"sched_process_exec":' +
        '{"verifiedInsns":73,"insnsSource":"kernel","totalStates":6,"peakStates":6,"maxStatesPerInsn":0,"verificationUs":151,"loadMs":0.3}}}',
    );
    expect(parseLoaderLine(ready)).toMatchObject({ verifier: { sched_process_exec: { verifiedInsns: 73, insnsSource: 'kernel', totalStates: 6 } } });
    const runs = STATS.replace(/}$/, ',"runs":{"enabled":true,"programs":{"sched_process_exec":{"runCount":11,"runTimeNs":282517}}}}');
    expect(parseLoaderLine(runs)).toMatchObject({ runs: { enabled: true, programs: { sched_process_exec: { runCount: 11 } } } });
    const off = STATS.replace(/}$/, ',"runs":{"enabled":false,"reason":"BPF_ENABLE_STATS: Invalid argument"}}');
    expect(parseLoaderLine(off)).toMatchObject({ runs: { enabled: false } });
    const refused = VERIFY_ERROR.replace(/}$/, ',"program":"sched_process_exec","verifier":{"verifiedInsns":2,"insnsSource":"log","totalStates":0,"peakStates":0,"maxStatesPerInsn":0}}');
    expect(parseLoaderLine(refused)).toMatchObject({ program: 'sched_process_exec', verifier: { insnsSource: 'log' } });
    expect(protocolError(ready.replace('"kernel","totalStates"', '"btf","totalStates"')).message).toMatch(/→ at verifier\.sched_process_exec\.insnsSource/);
  });

  test('non-JSON is a ProtocolError quoting the line', () => {
    expect(protocolError('thread main panicked at src/main.rs:12').message).toMatch(/not JSON: "thread main panicked/);
  });

  test('an unknown kind is rejected', () => {
    const error = protocolError('{"v":1,"kind":"hello","message":"hi"}');
    expect(error.message).toContain('does not match protocol v1');
    expect(error.message).toMatch(/Invalid discriminator value.*'ready' \| 'event'.*\n.*→ at kind/);
  });

  test('a missing or wrong protocol version is rejected, naming v', () => {
    for (const line of [LOG.replace('"v":1,', ''), LOG.replace('"v":1', '"v":2'), LOG.replace('"v":1', '"v":"1"')]) {
      const error = protocolError(line);
      expect(error.message).toContain('does not match protocol v1');
      expect(error.message).toMatch(/→ at v\b/);
    }
  });

  test('an extra field on a strict object is rejected, naming it', () => {
    expect(protocolError(LOG.replace('}', ',"pid":7}')).message).toMatch(/Unrecognized key.*"pid"/);
    const extraInProgram = READY.replace('"attach":"sched/sched_process_exec"', '"attach":"sched/sched_process_exec","fd":5');
    expect(protocolError(extraInProgram).message).toMatch(/Unrecognized key.*"fd"/);
  });

  test('wrong field types and values are rejected, naming the field', () => {
    expect(protocolError(STATS.replace('"events":25', '"events":-1')).message).toMatch(/→ at events/);
    expect(protocolError(LOG.replace('"info"', '"notice"')).message).toMatch(/→ at level/);
    expect(protocolError(VERIFY_ERROR.replace('"verify"', '"link"')).message).toMatch(/→ at stage/);
  });
});
