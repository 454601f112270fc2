import { describe, expect, test } from 'vitest';
import { parseExecTruth } from './exec.ts';

const stat = (pid: number, ppid: number, priority: number, comm = 'kmx-exec-probe') =>
  `${pid} (${comm}) R ${ppid} ${ppid} 1430 0 -1 4194304 175 0 0 0 0 0 0 0 ${priority} ${priority - 20} 1 0 767733 3133440 407 18446744073709551615 0 0 0`;
const status = (pid: number, uid: number, gid: number) =>
  [`Name:\tkmx-exec-probe`, 'State:\tR (running)', `Tgid:\t${pid}`, `Pid:\t${pid}`, 'PPid:\t900', `Uid:\t${uid}\t${uid}\t${uid}\t${uid}`, `Gid:\t${gid}\t${gid}\t${gid}\t${gid}`, 'Groups:\t'].join('\n');
const run = (pid: number, ppid: number, priority: number, uid: number, gid: number) => `run ${pid}\n${stat(pid, ppid, priority)}\n${status(pid, uid, gid)}\n`;

describe('parseExecTruth', () => {
  test('each run as the probe saw itself: pid, tgid, parent, ids, comm, static priority', () => {
    expect(parseExecTruth(run(1234, 900, 20, 4242, 4343) + run(1240, 900, 27, 4242, 4343))).toEqual([
      { pid: 1234, tgid: 1234, ppid: 900, uid: 4242, gid: 4343, comm: 'kmx-exec-probe', static_prio: 120 },
      { pid: 1240, tgid: 1240, ppid: 900, uid: 4242, gid: 4343, comm: 'kmx-exec-probe', static_prio: 127 },
    ]);
  });

  test('static priority follows nice, not the priority field (which SCHED_RR changes)', () => {
    const rr = `run 9\n${stat(9, 1, 20).replace(' 20 0 1 0 ', ' -2 7 1 0 ')}\n${status(9, 0, 0)}\n`;
    expect(parseExecTruth(rr)[0]!.static_prio).toBe(127);
  });

  test('a comm with spaces and parentheses', () => {
    const out = `run 7\n${stat(7, 1, 20, 'a (b) c')}\n${status(7, 0, 0)}\n`;
    expect(parseExecTruth(out)[0]).toMatchObject({ pid: 7, ppid: 1, comm: 'a (b) c' });
  });

  test('nothing printed is no runs', () => {
    expect(parseExecTruth('')).toEqual([]);
  });

  test('anything else is an error naming what was wrong', () => {
    expect(() => parseExecTruth('setpriv: setresuid failed: Operation not permitted\n')).toThrow(
      'exec generator printed an unexpected line: "setpriv: setresuid failed: Operation not permitted"',
    );
    expect(() => parseExecTruth('run 12\ncat: /proc/self/stat: No such file\n')).toThrow(/not a \/proc\/self\/stat line/);
    expect(() => parseExecTruth(`run 12\n${stat(12, 1, 20)}\nName:\tx\n`)).toThrow('exec generator: /proc/self/status of pid 12 has no Tgid line');
    expect(() => parseExecTruth(`run 13\n${stat(12, 1, 20)}\n${status(12, 0, 0)}\n`)).toThrow('exec generator: the shell forked 13, but the probe is 12');
  });
});
