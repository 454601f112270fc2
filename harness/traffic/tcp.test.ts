import { describe, expect, test } from 'vitest';
import { TCP_PROBE_COMM, parseConnectTruth } from './tcp.ts';

describe('parseConnectTruth', () => {
  test('one connect per line', () => {
    expect(parseConnectTruth('812 127.0.0.1 18080\n815 127.0.0.1 18081\n')).toEqual([
      { pid: 812, daddr: '127.0.0.1', dport: 18080, comm: TCP_PROBE_COMM },
      { pid: 815, daddr: '127.0.0.1', dport: 18081, comm: TCP_PROBE_COMM },
    ]);
  });

  test('anything else is an error quoting the line', () => {
    expect(() => parseConnectTruth('812 127.0.0.1 18080\nbash: connect: Connection refused')).toThrow(
      'connect generator printed an unexpected line: "bash: connect: Connection refused"',
    );
  });
});
