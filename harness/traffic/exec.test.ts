import { describe, expect, test } from 'vitest';
import { EXEC_PROBE_COMM, parseExecTruth } from './exec.ts';

describe('parseExecTruth', () => {
  test('numeric ids, as setpriv leaves them without a name', () => {
    expect(parseExecTruth('1234 900 0 uid=4242 gid=4343 groups=4343\n1240 900 7 uid=4242 gid=4343 groups=4343\n')).toEqual([
      { pid: 1234, ppid: 900, static_prio: 120, uid: 4242, gid: 4343, comm: EXEC_PROBE_COMM },
      { pid: 1240, ppid: 900, static_prio: 127, uid: 4242, gid: 4343, comm: EXEC_PROBE_COMM },
    ]);
  });

  test('ids with names, and a negative nice value', () => {
    expect(parseExecTruth('377 12 -5 uid=4242(someone) gid=4343(staff) groups=4343(staff)')).toEqual([
      { pid: 377, ppid: 12, static_prio: 115, uid: 4242, gid: 4343, comm: 'kmx-exec-probe' },
    ]);
  });

  test('blank lines are skipped', () => {
    expect(parseExecTruth('\n1234 1 0 uid=0(root) gid=0(root) groups=0(root)\n\n')).toHaveLength(1);
    expect(parseExecTruth('')).toEqual([]);
  });

  test('anything else is an error quoting the line', () => {
    expect(() => parseExecTruth('1234 1 0 uid=4242 gid=4343\nsetpriv: setresuid failed: Operation not permitted')).toThrow(
      'exec generator printed an unexpected line: "setpriv: setresuid failed: Operation not permitted"',
    );
    expect(() => parseExecTruth('1234 uid=4242 gid=4343 groups=4343')).toThrow(/unexpected line/);
    expect(() => parseExecTruth('1234 1 0 uid=someone gid=4343')).toThrow(/unexpected line/);
  });
});
