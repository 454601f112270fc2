/** A flat record: an event's decoded fields, or a ground-truth entry. */
export type Fields = Record<string, unknown>;

export interface TruthDiff {
  /** Truth entries no event matched, by key. */
  missing: Fields[];
  /** Events whose key is in no truth entry. */
  unexpected: Fields[];
  /** Keys seen in more than one event. */
  duplicates: unknown[];
  /** Same key, different value. */
  mismatches: { key: unknown; field: string; expected: unknown; got: unknown }[];
}

/**
 * The truth itself is unusable: a comparison against it could pass without
 * proving anything. A harness error, never a pass.
 */
export class TruthError extends Error {}

/**
 * Joins events to truth on `key` and compares `fields`, one by one. Pure,
 * so that what "matches the truth" means is tested without a kernel.
 *
 * The truth must be usable: every entry has the key and every compared
 * field (a misspelt field would otherwise compare `undefined` with
 * `undefined` and pass), and no two entries share a key (one event could
 * then stand for two, hiding a lost one). An event lacking a field is a
 * mismatch.
 */
export function diffAgainstTruth(events: Fields[], truth: Fields[], key: string, fields: string[]): TruthDiff {
  checkTruth(truth, key, fields);
  const byKey = new Map<unknown, Fields>();
  const duplicates: unknown[] = [];
  const unexpected: Fields[] = [];
  const truthKeys = new Set(truth.map((t) => t[key]));
  for (const event of events) {
    const k = event[key];
    if (!truthKeys.has(k)) unexpected.push(event);
    else if (byKey.has(k)) duplicates.push(k);
    else byKey.set(k, event);
  }
  const missing: Fields[] = [];
  const mismatches: TruthDiff['mismatches'] = [];
  for (const expected of truth) {
    const got = byKey.get(expected[key]);
    if (!got) {
      missing.push(expected);
      continue;
    }
    for (const field of fields) {
      if (!Object.is(got[field], expected[field])) {
        mismatches.push({ key: expected[key], field, expected: expected[field], got: got[field] });
      }
    }
  }
  return { missing, unexpected, duplicates, mismatches };
}

function checkTruth(truth: Fields[], key: string, fields: string[]): void {
  const seen = new Set<unknown>();
  for (const entry of truth) {
    for (const name of [key, ...fields]) {
      if (entry[name] === undefined) {
        throw new TruthError(`truth entry ${JSON.stringify(entry)} has no field "${name}" (compared: ${[key, ...fields].join(', ')})`);
      }
    }
    if (seen.has(entry[key])) throw new TruthError(`truth has two entries with ${key}=${JSON.stringify(entry[key])}: events cannot be told apart by ${key}`);
    seen.add(entry[key]);
  }
}

export function isClean(diff: TruthDiff): boolean {
  return !diff.missing.length && !diff.unexpected.length && !diff.duplicates.length && !diff.mismatches.length;
}

/** A readable account of a diff: field mismatches first, then missing, unexpected and duplicate events, `limit` lines per kind. */
export function describeDiff(diff: TruthDiff, key: string, limit = 10): string {
  const lines: string[] = [];
  const section = <T>(title: string, items: T[], show: (item: T) => string) => {
    if (!items.length) return;
    lines.push(`${title} (${items.length}):`);
    for (const item of items.slice(0, limit)) lines.push(`  ${show(item)}`);
    if (items.length > limit) lines.push(`  … and ${items.length - limit} more`);
  };
  const show = (value: unknown) => (value === undefined ? '(absent)' : JSON.stringify(value));
  section('field mismatches', diff.mismatches, (m) => `${key}=${String(m.key)}: ${m.field} expected ${show(m.expected)}, got ${show(m.got)}`);
  section('missing events (in truth, not delivered)', diff.missing, (t) => JSON.stringify(t));
  section('unexpected events (delivered, not in truth)', diff.unexpected, (e) => JSON.stringify(e));
  section('duplicate events', diff.duplicates, (k) => `${key}=${String(k)}`);
  return lines.join('\n');
}
