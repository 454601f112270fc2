import { describe, expect, test } from 'vitest';
import { TruthError, describeDiff, diffAgainstTruth, isClean, type Fields } from './truth.ts';
import { ipv4FromNetworkOrder } from './formats.ts';

const FIELDS = ['pid', 'uid', 'gid', 'comm'];
const exec = (pid: number, extra: Fields = {}): Fields => ({ pid, uid: 4242, gid: 4343, comm: 'kmx-exec-probe', ...extra });
const truth = [exec(101), exec(102), exec(103)];

describe('diffAgainstTruth / isClean / describeDiff', () => {
  test('the same events in another order, with extra fields, are clean', () => {
    const events = [exec(103, { tgid: 103 }), exec(101, { tgid: 101 }), exec(102, { tgid: 102 })];
    const diff = diffAgainstTruth(events, truth, 'pid', FIELDS);
    expect(diff).toEqual({ missing: [], unexpected: [], duplicates: [], mismatches: [] });
    expect(isClean(diff)).toBe(true);
    expect(describeDiff(diff, 'pid')).toBe('');
  });

  test('one missing event', () => {
    const diff = diffAgainstTruth([exec(101), exec(103)], truth, 'pid', FIELDS);
    expect(diff.missing).toEqual([exec(102)]);
    expect(isClean(diff)).toBe(false);
    expect(describeDiff(diff, 'pid')).toBe(
      'missing events (in truth, not delivered) (1):\n  {"pid":102,"uid":4242,"gid":4343,"comm":"kmx-exec-probe"}',
    );
  });

  test('one unexpected event', () => {
    const diff = diffAgainstTruth([...truth, exec(999, { uid: 0 })], truth, 'pid', FIELDS);
    expect(diff).toMatchObject({ missing: [], duplicates: [], mismatches: [], unexpected: [exec(999, { uid: 0 })] });
    expect(isClean(diff)).toBe(false);
    expect(describeDiff(diff, 'pid')).toContain('unexpected events (delivered, not in truth) (1):\n  {"pid":999,"uid":0,');
  });

  test('a duplicate event', () => {
    const diff = diffAgainstTruth([...truth, exec(102)], truth, 'pid', FIELDS);
    expect(diff).toMatchObject({ missing: [], unexpected: [], mismatches: [], duplicates: [102] });
    expect(isClean(diff)).toBe(false);
    expect(describeDiff(diff, 'pid')).toBe('duplicate events (1):\n  pid=102');
  });

  test('one corrupted field', () => {
    const events = [exec(101), exec(102, { comm: 'kmx-exec-prob' }), exec(103)];
    const diff = diffAgainstTruth(events, truth, 'pid', FIELDS);
    expect(diff.mismatches).toEqual([{ key: 102, field: 'comm', expected: 'kmx-exec-probe', got: 'kmx-exec-prob' }]);
    expect(isClean(diff)).toBe(false);
    expect(describeDiff(diff, 'pid')).toBe('field mismatches (1):\n  pid=102: comm expected "kmx-exec-probe", got "kmx-exec-prob"');
  });

  test('a number decoded as a string is a mismatch, and a field not compared is ignored', () => {
    const diff = diffAgainstTruth([exec(101, { uid: '4242', tgid: 1 })], [exec(101, { tgid: 2 })], 'pid', FIELDS);
    expect(diff.mismatches).toEqual([{ key: 101, field: 'uid', expected: 4242, got: '4242' }]);
    expect(describeDiff(diff, 'pid')).toContain('pid=101: uid expected 4242, got "4242"');
  });

  test('all kinds together, mismatches first, capped at the limit', () => {
    const many = [1, 2, 3, 4].map((pid) => exec(pid));
    const diff = diffAgainstTruth([exec(1, { gid: 0 }), exec(2, { gid: 0 }), exec(3, { gid: 0 }), exec(7)], many, 'pid', FIELDS);
    expect(describeDiff(diff, 'pid', 2).split('\n')).toEqual([
      'field mismatches (3):',
      '  pid=1: gid expected 4343, got 0',
      '  pid=2: gid expected 4343, got 0',
      '  … and 1 more',
      'missing events (in truth, not delivered) (1):',
      '  {"pid":4,"uid":4242,"gid":4343,"comm":"kmx-exec-probe"}',
      'unexpected events (delivered, not in truth) (1):',
      '  {"pid":7,"uid":4242,"gid":4343,"comm":"kmx-exec-probe"}',
    ]);
  });

  test('an event lacking a compared field is a mismatch, shown as absent', () => {
    const { comm: _, ...withoutComm } = exec(102);
    const diff = diffAgainstTruth([exec(101), withoutComm, exec(103)], truth, 'pid', FIELDS);
    expect(diff.mismatches).toEqual([{ key: 102, field: 'comm', expected: 'kmx-exec-probe', got: undefined }]);
    expect(describeDiff(diff, 'pid')).toContain('pid=102: comm expected "kmx-exec-probe", got (absent)');
  });
});

describe('unusable truth is a harness error, never a pass', () => {
  test('two truth entries with the same key', () => {
    expect(() => diffAgainstTruth(truth, [...truth, exec(102)], 'pid', FIELDS)).toThrow(
      new TruthError('truth has two entries with pid=102: events cannot be told apart by pid'),
    );
  });

  test('a compared field no truth entry has (a misspelt name)', () => {
    expect(() => diffAgainstTruth(truth, truth, 'pid', ['pid', 'ppid'])).toThrow(TruthError);
    expect(() => diffAgainstTruth(truth, truth, 'pid', ['pid', 'ppid'])).toThrow(/has no field "ppid" \(compared: pid, pid, ppid\)/);
  });

  test('a truth entry without the key', () => {
    expect(() => diffAgainstTruth([], [{ uid: 1 }], 'pid', ['uid'])).toThrow(/has no field "pid"/);
  });
});


describe('ipv4FromNetworkOrder', () => {
  test('reads the octets in memory order', () => {
    expect(ipv4FromNetworkOrder(0x0100007f)).toBe('127.0.0.1');
    expect(ipv4FromNetworkOrder(0x0f02000a)).toBe('10.0.2.15');
  });
  test('refuses what is not a 32-bit value', () => {
    expect(() => ipv4FromNetworkOrder(-1)).toThrow('not a 32-bit address: -1');
    expect(() => ipv4FromNetworkOrder(2 ** 32)).toThrow('not a 32-bit address');
  });
});
