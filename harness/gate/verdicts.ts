/**
 * How the gate reads each status a cell can have. One line per status: a
 * status added to the report's enum (harness/report/matrix.ts) is one more
 * line here, and a status this table does not know is read as a failure
 * (never as a pass), with a note saying so.
 *
 * - `verdict`: the cell proved what it set out to (a pass, or an expected
 *   failure caught as expected);
 * - `failure`: it did not;
 * - `none`: it proved nothing (skipped);
 * - `flaky`: it passed only on a retry; blocks unless `--flaky allow`.
 */
export type VerdictClass = 'verdict' | 'failure' | 'none' | 'flaky';

export const STATUS_CLASS: Readonly<Record<string, VerdictClass>> = {
  pass: 'verdict',
  xfail: 'verdict',
  fail: 'failure',
  skip: 'none',
  flaky: 'flaky',
};

/** Every status the baseline file may hold: those above. */
export const KNOWN_STATUSES = Object.keys(STATUS_CLASS) as [string, ...string[]];

export function classOf(status: string): VerdictClass {
  return STATUS_CLASS[status] ?? 'failure';
}

export function isKnownStatus(status: string): boolean {
  return status in STATUS_CLASS;
}
