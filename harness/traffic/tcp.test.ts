import { describe, expect, test } from 'vitest';
import { parseConnectTruth } from './tcp.ts';

const connect = (tid: number, sport: number) => `connect {"pid": 812, "tid": ${tid}, "sport": ${sport}, "comm": "kmx-tcp-probe"}`;
const accept = (dport: number, sport: number) => `accept {"daddr": "127.0.0.1", "dport": ${dport}, "saddr": "127.0.0.1", "sport": ${sport}}`;

describe('parseConnectTruth', () => {
  test('each connect joined to what its listener accepted, on the source port', () => {
    const out = [connect(812, 40001), connect(815, 40002), accept(18081, 40002), accept(18080, 40001)].join('\n');
    expect(parseConnectTruth(`${out}\n`)).toEqual([
      { pid: 812, tid: 812, daddr: '127.0.0.1', dport: 18080, sport: 40001, comm: 'kmx-tcp-probe' },
      { pid: 812, tid: 815, daddr: '127.0.0.1', dport: 18081, sport: 40002, comm: 'kmx-tcp-probe' },
    ]);
  });

  test('a connect no listener accepted is an error', () => {
    expect(() => parseConnectTruth([connect(812, 40001), accept(18080, 40009)].join('\n'))).toThrow(
      'connect generator: the connect from port 40001 (pid 812) was not accepted by any listener',
    );
  });

  test('anything else is an error quoting the line', () => {
    expect(() => parseConnectTruth('Traceback (most recent call last):')).toThrow(
      'connect generator printed an unexpected line: "Traceback (most recent call last):"',
    );
    expect(() => parseConnectTruth('connect {"pid": 1}')).toThrow(/unexpected line/);
  });
});
