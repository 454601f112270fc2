import * as z from 'zod';
import type { Guest } from '../guest/guest.ts';
import { shellQuote } from '../util/shell.ts';

/**
 * What kmatrix-probe-target did, as it reports itself: its pid and thread
 * id (from the kernel), its comm at exec (read back from /proc), every call
 * of `kmatrix_probe_target(x)` with the value it returned, and every
 * `read(2)` with the count it asked for and what the kernel returned.
 */
export interface ProbeTargetTruth {
  pid: number;
  tid: number;
  /** The comm at exec, before the target renames itself to PROBE_TARGET_COMM. */
  execComm: string;
  calls: { x: number; ret: number }[];
  reads: { count: number; ret: number }[];
  /** lseek(2)s to `offset` from the end, and the position they returned. */
  seeks: { offset: number; ret: number }[];
}

/** The comm the target takes after start: the BPF programs match its reads by it. */
export const PROBE_TARGET_COMM = 'kmx-probe-tgt';

const Line = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('start'), pid: z.number().int(), tid: z.number().int(), comm: z.string() }),
  z.strictObject({ kind: z.literal('call'), x: z.number().int(), ret: z.number().int() }),
  z.strictObject({ kind: z.literal('read'), count: z.number().int(), ret: z.number().int() }),
  z.strictObject({ kind: z.literal('seek'), offset: z.number().int(), ret: z.number().int() }),
]);

/** Runs the probe target in the guest (the host's build: the guest shares its files). */
export async function runProbeTarget(guest: Guest, binary: string, options: { calls: number; reads: number }): Promise<ProbeTargetTruth> {
  const command = [binary, '--calls', String(options.calls), '--reads', String(options.reads), '--file', '/tmp/kmatrix-probe-read.bin'];
  const result = await guest.exec(command.map(shellQuote).join(' '), { timeout: 60_000 });
  if (result.code !== 0) throw new Error(`kmatrix-probe-target failed (exit ${result.code}): ${result.stderr}`);
  const truth = parseProbeTargetTruth(result.stdout);
  if (truth.calls.length !== options.calls || truth.reads.length !== options.reads || truth.seeks.length !== options.reads) {
    throw new Error(`kmatrix-probe-target reported ${truth.calls.length} calls and ${truth.reads.length} reads, ${options.calls} and ${options.reads} asked for`);
  }
  return truth;
}

export function parseProbeTargetTruth(stdout: string): ProbeTargetTruth {
  let start: { pid: number; tid: number; comm: string } | undefined;
  const calls: ProbeTargetTruth['calls'] = [];
  const reads: ProbeTargetTruth['reads'] = [];
  const seeks: ProbeTargetTruth['seeks'] = [];
  for (const raw of stdout.split('\n').filter((l) => l.trim())) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new Error(`kmatrix-probe-target printed a line that is not JSON: ${JSON.stringify(raw)}`);
    }
    const parsed = Line.safeParse(json);
    if (!parsed.success) throw new Error(`kmatrix-probe-target printed an unexpected line: ${JSON.stringify(raw)}`);
    const line = parsed.data;
    if (line.kind === 'start') start = line;
    else if (line.kind === 'call') calls.push({ x: line.x, ret: line.ret });
    else if (line.kind === 'read') reads.push({ count: line.count, ret: line.ret });
    else seeks.push({ offset: line.offset, ret: line.ret });
  }
  if (!start) throw new Error('kmatrix-probe-target printed no start line');
  return { pid: start.pid, tid: start.tid, execComm: start.comm, calls, reads, seeks };
}
