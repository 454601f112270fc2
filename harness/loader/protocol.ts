import * as z from 'zod';

/**
 * The loader's JSON-lines protocol (version 1): what `kmatrix-loader` prints
 * on stdout, one object per line. Every line is validated; an unknown line
 * is an error, never skipped.
 */
export const PROTOCOL_VERSION = 1;

const u64 = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)]);
/** A decoded key or value: a number, a string (u64 above 2^53), a struct, or an array (per-CPU values). */
export type Decoded = number | string | boolean | null | Decoded[] | { [field: string]: Decoded };
const decoded: z.ZodType<Decoded> = z.lazy(() =>
  z.union([z.number(), z.string(), z.boolean(), z.null(), z.array(decoded), z.record(z.string(), decoded)]),
);

const base = { v: z.literal(PROTOCOL_VERSION) };

/**
 * One program's verifier figures. `verifiedInsns` is the kernel's own count
 * (`bpf_prog_info.verified_insns`, 5.16 on) where it keeps one, else the
 * `processed N insns` of the verifier's statistics log; `insnsSource` says
 * which (they are the same number). The states only exist in that log.
 */
export const VerifierFigures = z.strictObject({
  verifiedInsns: z.number().int().nonnegative().optional(),
  insnsSource: z.enum(['kernel', 'log']).optional(),
  totalStates: z.number().int().nonnegative().optional(),
  peakStates: z.number().int().nonnegative().optional(),
  maxStatesPerInsn: z.number().int().nonnegative().optional(),
  /** The kernel's `verification time N usec` from the same log. */
  verificationUs: z.number().int().nonnegative().optional(),
  /** The loader's wall time of the program's BPF_PROG_LOAD (the verifier included). */
  loadMs: z.number().nonnegative().optional(),
});
export type VerifierFigures = z.infer<typeof VerifierFigures>;

/** Runs while the loader held BPF statistics on (`BPF_ENABLE_STATS`), per program; or why it could not. */
export const RunFigures = z.discriminatedUnion('enabled', [
  z.strictObject({ enabled: z.literal(true), programs: z.record(z.string(), z.strictObject({ runCount: u64, runTimeNs: u64 })) }),
  z.strictObject({ enabled: z.literal(false), reason: z.string() }),
]);
export type RunFigures = z.infer<typeof RunFigures>;

export const ReadyLine = z.strictObject({
  ...base,
  kind: z.literal('ready'),
  programs: z.array(z.strictObject({ name: z.string(), type: z.string(), attach: z.string() })),
  maps: z.array(z.string()),
  kernel: z.string(),
  /** Byte offsets of the struct fields asked for (`--btf-offset`, `--btf-field`), from the running kernel's BTF. */
  offsets: z.record(z.string(), z.number().int().nonnegative()).optional(),
  /** Milliseconds in the guest: the object's load (maps, BTF, relocations), the verifier (every BPF_PROG_LOAD), attaching. */
  timings: z.strictObject({ loadMs: z.number(), verifyMs: z.number(), attachMs: z.number() }).optional(),
  /** Per program loaded (attached or put in a program array), its verifier figures. */
  verifier: z.record(z.string(), VerifierFigures).optional(),
});

export const EventLine = z.strictObject({
  ...base,
  kind: z.literal('event'),
  map: z.string(),
  type: z.string(),
  /** null when the record could not be decoded; then `error` says why and `raw` holds its bytes in hex. */
  fields: z.record(z.string(), decoded).nullable(),
  error: z.string().optional(),
  raw: z.string().optional(),
});

export const MapLine = z.strictObject({
  ...base,
  kind: z.literal('map'),
  name: z.string(),
  mapType: z.string(),
  entries: z.array(z.strictObject({ key: decoded, value: decoded })),
});

export const LogLine = z.strictObject({
  ...base,
  kind: z.literal('log'),
  level: z.enum(['error', 'warn', 'info', 'debug', 'trace']),
  target: z.string(),
  message: z.string(),
});

export const StatsLine = z.strictObject({
  ...base,
  kind: z.literal('stats'),
  events: u64,
  perMap: z.record(z.string(), u64),
  /** Records the kernel could not hand over, per PerfEventArray (only with `--perf`). */
  lost: z.record(z.string(), u64).optional(),
  runs: RunFigures.optional(),
});

export const ErrorStage = z.enum(['parse', 'load', 'verify', 'attach', 'run']);
export const ErrorLine = z.strictObject({
  ...base,
  kind: z.literal('error'),
  stage: ErrorStage,
  message: z.string(),
  /** The program the failure is about (a refused load, a failed attach). */
  program: z.string().optional(),
  verifierLog: z.string().optional(),
  /** A refused program's figures, from its verifier log: how far the verifier got. */
  verifier: VerifierFigures.optional(),
});

export const LoaderLine = z.discriminatedUnion('kind', [ReadyLine, EventLine, MapLine, LogLine, StatsLine, ErrorLine]);
export type LoaderLine = z.infer<typeof LoaderLine>;
export type ReadyLine = z.infer<typeof ReadyLine>;
export type EventLine = z.infer<typeof EventLine>;
export type MapLine = z.infer<typeof MapLine>;
export type LogLine = z.infer<typeof LogLine>;
export type StatsLine = z.infer<typeof StatsLine>;
export type ErrorLine = z.infer<typeof ErrorLine>;

export class ProtocolError extends Error {}

/** Parses one stdout line of the loader; throws {@link ProtocolError} naming the line. */
export function parseLoaderLine(line: string): LoaderLine {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new ProtocolError(`loader printed a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  const parsed = LoaderLine.safeParse(json);
  if (!parsed.success) {
    throw new ProtocolError(`loader line does not match protocol v${PROTOCOL_VERSION}: ${line.slice(0, 300)}\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
