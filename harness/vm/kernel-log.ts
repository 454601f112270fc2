/**
 * Recognises kernel splats in kernel log lines (serial console or dmesg):
 * the reports a kernel prints when something went wrong inside it. A splat
 * is its first line plus the lines that follow it (registers, call trace),
 * up to its end marker, so that a failure can show what the kernel said.
 *
 * The kinds follow BPF CI's splat deny list and Aya's VM runner: a panic,
 * an oops, a BUG, a WARN, KASAN and UBSAN reports, RCU stalls, soft and hard
 * lockups and hung tasks.
 */
export type SplatKind =
  | 'panic'
  | 'oops'
  | 'rcu-stall'
  | 'hard-lockup'
  | 'soft-lockup'
  | 'kasan'
  | 'ubsan'
  | 'hung-task'
  | 'warning'
  | 'bug';

export interface Splat {
  kind: SplatKind;
  /** The first line, then what followed it (at most {@link MAX_SPLAT_LINES}). */
  lines: string[];
}

/** A message a scenario expects and accepts, with the reason why. */
export interface AllowedSplat {
  pattern: RegExp;
  reason: string;
}

// First match wins: the specific BUG kinds come before the generic one. A
// splat's first line starts the line (after the timestamp), which keeps a
// daemon that merely quotes "WARNING:" in its own log line from counting.
const LINE_START = String.raw`^(?:\[[^\]]*\]\s*)*`;
const MARKERS: [SplatKind, RegExp][] = (
  [
    ['panic', String.raw`Kernel panic - not syncing`],
    ['soft-lockup', String.raw`watchdog: BUG: soft lockup`],
    ['hard-lockup', String.raw`(?:NMI )?watchdog: Watchdog detected hard LOCKUP`],
    ['rcu-stall', String.raw`rcu: (?:INFO: rcu_\w+ (?:self-)?detected stalls?|RCU grace-period kthread stack dump)`],
    ['kasan', String.raw`BUG: KASAN: `],
    ['ubsan', String.raw`UBSAN: `],
    ['oops', String.raw`(?:Oops: |BUG: unable to handle|general protection fault|kernel BUG at )`],
    ['hung-task', String.raw`INFO: task .+ blocked for more than \d+ seconds`],
    ['warning', String.raw`WARNING: (?:CPU: \d+ PID: \d+ at |possible (?:circular|recursive) locking|suspicious RCU usage)`],
    ['bug', String.raw`BUG: `],
  ] as const
).map(([kind, body]) => [kind, new RegExp(LINE_START + body)]);

/** Kinds after which the kernel cannot be trusted to go on: the VM is stopped. */
const FATAL: ReadonlySet<SplatKind> = new Set(['panic', 'oops', 'rcu-stall', 'hard-lockup']);

const MAX_SPLAT_LINES = 40;
const END_OF_SPLAT = /---\[ end (trace|Kernel panic)|^(\[\s*[\d.]+\]\s*)?Kernel Offset:/;

export function splatKindOf(line: string): SplatKind | undefined {
  for (const [kind, pattern] of MARKERS) if (pattern.test(line)) return kind;
  return undefined;
}

/**
 * A soft lockup is reported again every few seconds while it lasts; the
 * first report fails the case, the second means the kernel is stuck.
 */
export function isFatal(kind: SplatKind, seenBefore: number): boolean {
  return FATAL.has(kind) || (kind === 'soft-lockup' && seenBefore >= 1);
}

/**
 * Groups lines into splats as they come: feed lines one at a time (a
 * console being read), or all at once (a dmesg dump).
 */
export class SplatCollector {
  readonly splats: Splat[] = [];
  #open?: Splat;

  /** Returns the splat this line started, if it started one. */
  push(line: string): Splat | undefined {
    const kind = splatKindOf(line);
    if (kind) {
      const splat: Splat = { kind, lines: [line] };
      this.splats.push(splat);
      this.#open = END_OF_SPLAT.test(line) ? undefined : splat;
      return splat;
    }
    if (this.#open) {
      this.#open.lines.push(line);
      if (END_OF_SPLAT.test(line) || this.#open.lines.length >= MAX_SPLAT_LINES) this.#open = undefined;
    }
    return undefined;
  }
}

/** The splats among `lines`. */
export function findSplats(lines: string[]): Splat[] {
  const collector = new SplatCollector();
  for (const line of lines) collector.push(line);
  return collector.splats;
}

/** Splats no allow-list entry accepts. */
export function unexpectedSplats(splats: Splat[], allowed: AllowedSplat[]): Splat[] {
  return splats.filter((splat) => !allowed.some((a) => a.pattern.test(splat.lines.join('\n'))));
}

/** Splats, for an error message: each kind, then its lines, indented. */
export function describeSplats(splats: Splat[], linesEach = 16): string {
  return splats
    .map((s) => {
      const shown = s.lines.slice(0, linesEach).map((l) => `  ${l}`);
      const more = s.lines.length > linesEach ? [`  … ${s.lines.length - linesEach} more lines`] : [];
      return [`${s.kind}:`, ...shown, ...more].join('\n');
    })
    .join('\n');
}
