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
});

export const ErrorStage = z.enum(['parse', 'load', 'verify', 'attach', 'run']);
export const ErrorLine = z.strictObject({
  ...base,
  kind: z.literal('error'),
  stage: ErrorStage,
  message: z.string(),
  verifierLog: z.string().optional(),
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
