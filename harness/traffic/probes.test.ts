import { describe, expect, it } from 'vitest';
import { parseProbeTargetTruth } from './probes.ts';

describe('parseProbeTargetTruth', () => {
  it('reads the start, call and read lines', () => {
    const out = [
      '{"kind":"start","pid":3172,"tid":3172,"comm":"kmatrix-probe-t"}',
      '{"kind":"call","x":1000,"ret":3007}',
      '{"kind":"seek","offset":-10,"ret":240}',
      '{"kind":"read","count":300,"ret":250}',
    ].join('\n');
    expect(parseProbeTargetTruth(out)).toEqual({
      pid: 3172,
      tid: 3172,
      execComm: 'kmatrix-probe-t',
      calls: [{ x: 1000, ret: 3007 }],
      reads: [{ count: 300, ret: 250 }],
      seeks: [{ offset: -10, ret: 240 }],
    });
  });

  it('refuses a line outside its format, and output without a start', () => {
    expect(() => parseProbeTargetTruth('{"kind":"start","pid":1,"tid":1,"comm":"x"}\nhello')).toThrow(/not JSON/);
    expect(() => parseProbeTargetTruth('{"kind":"call","x":1}')).toThrow(/unexpected line/);
    expect(() => parseProbeTargetTruth('{"kind":"call","x":1,"ret":10}')).toThrow(/no start line/);
  });
});
