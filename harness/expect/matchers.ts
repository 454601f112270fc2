import { expect } from 'vitest';
import type { MapLine } from '../loader/protocol.ts';
import { describeDiff, diffAgainstTruth, isClean, type Fields } from './truth.ts';

interface TruthOptions {
  /** Kernel name, for the message. */
  kernel: string;
  /** What the events are, e.g. "RingBuf EXEC_EVENTS". */
  source: string;
  key: string;
  fields: string[];
}

expect.extend({
  /** Events equal the ground truth: same keys, each field equal. */
  toMatchTruth(received: Fields[], truth: Fields[], options: TruthOptions) {
    const diff = diffAgainstTruth(received, truth, options.key, options.fields);
    const sortByKey = (rows: Fields[]) =>
      [...rows].sort((a, b) => Number(a[options.key]) - Number(b[options.key])).map((row) => pick(row, options.fields));
    return {
      pass: isClean(diff),
      message: () =>
        this.isNot
          ? `kernel ${options.kernel}: ${options.source} unexpectedly matched the ground truth`
          : `kernel ${options.kernel}: ${options.source} does not match the ground truth ` +
            `(${received.length} events, ${truth.length} expected)\n${describeDiff(diff, options.key)}`,
      actual: sortByKey(received),
      expected: sortByKey(truth),
    };
  },

  /** A dumped map holds `key` with exactly `value`. */
  toHaveMapEntry(received: MapLine | undefined, key: unknown, value: unknown, options: { kernel: string }) {
    const entry = received?.entries.find((e) => this.equals(e.key, key));
    const pass = entry !== undefined && this.equals(entry.value, value);
    const where = `kernel ${options.kernel}: map ${received?.name ?? '(not dumped)'}`;
    return {
      pass,
      message: () =>
        this.isNot
          ? `${where} unexpectedly has ${JSON.stringify(key)} → ${JSON.stringify(value)}`
          : entry
            ? `${where}[${JSON.stringify(key)}] is ${JSON.stringify(entry.value)}, expected ${JSON.stringify(value)}`
            : `${where} has no key ${JSON.stringify(key)}; its keys: ${JSON.stringify(received?.entries.map((e) => e.key) ?? [])}`,
      actual: entry?.value,
      expected: value,
    };
  },
});

function pick(row: Fields, fields: string[]): Fields {
  return Object.fromEntries(fields.map((f) => [f, row[f]]));
}

declare module 'vitest' {
  interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> {
    toMatchTruth(truth: Fields[], options: TruthOptions): R;
    toHaveMapEntry(key: unknown, value: unknown, options: { kernel: string }): R;
  }
}
