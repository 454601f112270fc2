import type { ExecResult, Guest } from '../guest/guest.ts';
import { shellQuote } from '../util/shell.ts';
import type { LoaderTimeline } from '../report/phases.ts';
import { settlesWithin } from '../util/time.ts';
import { sleep } from '../util/time.ts';
import {
  ProtocolError,
  parseLoaderLine,
  type Decoded,
  type ErrorLine,
  type EventLine,
  type LogLine,
  type MapLine,
  type ReadyLine,
  type StatsLine,
} from './protocol.ts';

/** What to load and how: the loader's command line, typed. */
export interface LoaderSpec {
  /** Host path of the eBPF object. */
  object: string;
  /**
   * program name → attach point `KIND:TARGET`, e.g.
   * `{ sched_process_exec: 'tracepoint:sched/sched_process_exec' }`. Kinds:
   * - `tracepoint:CATEGORY/NAME`, `raw_tracepoint:NAME` (`sched_process_exec`)
   * - `kprobe:FUNCTION`, `kretprobe:FUNCTION`
   * - `fentry:FUNCTION`, `fexit:FUNCTION`: resolved in the kernel's BTF at load
   * - `uprobe:BINARY:SYMBOL[+OFFSET]`, `uprobe:BINARY:0xOFFSET`, and the same
   *   for `uretprobe` (BINARY is a path in the guest, which sees the host's files)
   * - `xdp:INTERFACE`, `tc-ingress:INTERFACE`, `tc-egress:INTERFACE` (clsact)
   * - `cgroup-skb-ingress:CGROUP_DIR`, `cgroup-skb-egress:CGROUP_DIR` (cgroup v2)
   * - `socket-filter:packet:INTERFACE`: the loader opens an AF_PACKET raw
   *   socket bound to INTERFACE (every protocol, in its network namespace),
   *   attaches the filter and holds the socket until it stops; the filter
   *   sees every frame crossing the interface, both ways
   * - `lsm:HOOK`: needs `bpf` among the kernel's active LSMs
   *
   * A kind the kernel lacks, or a target it does not have, is an `error`
   * line naming program, kind and target, at stage `attach` (or `load`
   * without kernel BTF, `verify` if the verifier refuses the program).
   */
  attach: Record<string, string>;
  /**
   * ProgramArray map → `{ index: program }`: each program is loaded and put
   * at its index before anything is attached, for `bpf_tail_call`.
   */
  progArrays?: Record<string, Record<number, string>>;
  /**
   * RingBuf map → the type of its records, by its name in the eBPF crate
   * (`'ExecEvent'`, or a path such as `'myapp_common::ExecEvent'`), decoded
   * from the object's DWARF.
   */
  ringbufs?: Record<string, string>;
  /** PerfEventArray map → the type of its records, as for `ringbufs`. */
  perf?: Record<string, string>;
  /**
   * Maps dumped when the loader stops: map → `'KEY:VALUE'` type names, or
   * `'declared'` to take them from the map's declaration
   * (`HashMap<u32, OpenTotals>`).
   */
  maps?: Record<string, string>;
  /** `Type.field`s of byte arrays always shown as numbers, never as C strings. */
  bytes?: string[];
  /** global → `struct.field`: set to that field's offset in the running kernel's BTF before load. */
  btfOffsets?: Record<string, string>;
  /** `struct.field`s whose offsets are only reported, in the ready line. */
  btfFields?: string[];
  /** Run the loader inside this network namespace (`ip netns exec`), to attach to its interfaces. */
  netns?: string;
}

/** `--map`'s value: the name alone takes the types from the map's declaration. */
export function mapArg(map: string, types: string): string {
  return types === 'declared' ? map : `${map}=${types}`;
}

/** The loader failed at a stage of the protocol; carries the verifier log if there was one. */
export class LoaderError extends Error {
  readonly line: ErrorLine;
  constructor(kernel: string, line: ErrorLine, stderr: string) {
    const log = line.verifierLog ? `\n--- verifier log ---\n${line.verifierLog}` : '';
    super(`${kernel}: loader failed at stage "${line.stage}": ${line.message}${log}${stderr ? `\n--- loader stderr ---\n${stderr}` : ''}`);
    this.line = line;
  }
}

/** An event the loader decoded (one it could not decode fails the session instead). */
export type DecodedEvent = EventLine & { fields: Record<string, Decoded> };

/** The loader sent a record it could not decode: the case fails, with the record's bytes. */
export class LoaderDecodeError extends Error {
  constructor(kernel: string, line: EventLine) {
    super(`${kernel}: the loader could not decode a record of ${line.map} as ${line.type}: ${line.error ?? 'no reason given'}\nraw record: ${line.raw ?? '(none)'}`);
  }
}

export interface LoaderResult {
  ready: ReadyLine;
  events: DecodedEvent[];
  maps: Map<string, MapLine>;
  logs: LogLine[];
  stats: StatsLine;
}

/** What a session needs of the running loader: a guest command, or a stand-in in unit tests. */
export interface LoaderProcess {
  lines: AsyncIterable<string>;
  done: Promise<ExecResult>;
  endInput(): void;
  /** Kills the loader (and whatever it started); says what it did. */
  kill(): Promise<string>;
  stderrSoFar(): string;
}

export interface SessionOptions {
  /** Names the kernel in every error. */
  kernel: string;
  /** The RingBuf and perf maps the loader streams: their event counts are checked against its `stats`. */
  streamedMaps: string[];
  /** Throws when the guest is gone (its VM died): waits then fail with that, at once. */
  assertUsable?: () => void | Promise<void>;
}

/**
 * A loader running in the guest: started, it loads and attaches; `stop()`
 * closes its stdin, and it dumps its maps and exits. Every stdout line goes
 * through the protocol schema. The session is strict: a line that breaks the
 * protocol, an event the loader could not decode, or a `stats` count that
 * differs from the events received fails it. Dispose it (`await using`, or
 * the fixture does) and a loader still running is killed in the guest.
 */
export class LoaderSession implements AsyncDisposable {
  readonly events: DecodedEvent[] = [];
  readonly logs: LogLine[] = [];
  readonly #maps = new Map<string, MapLine>();
  readonly #process: LoaderProcess;
  readonly #options: SessionOptions;
  readonly #reading: Promise<void>;
  #stats?: StatsLine;
  #errorLine?: ErrorLine;
  #failure?: Error;
  #ready?: ReadyLine;
  #finished = false;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  /** When it started, was ready, was asked to stop and stopped: the report's phases. */
  readonly #moments: { startedAt: number; readyAt: number; stopCalledAt?: number; stoppedAt?: number };

  private constructor(process: LoaderProcess, options: SessionOptions, startedAt: number) {
    this.#process = process;
    this.#options = options;
    this.#moments = { startedAt, readyAt: startedAt };
    this.#reading = this.#read().finally(() => (this.#finished = true));
  }

  /**
   * Starts the loader in the guest and waits for `ready`. The guest sees the
   * host's files (virtme-ng shares its root), so the build's own paths are
   * run: nothing is copied. (Copying the loader over SFTP cost 4.5 s per
   * file under software emulation.)
   */
  static async start(guest: Guest, kernel: string, loaderBinary: string, spec: LoaderSpec, timeoutMs = 120_000): Promise<LoaderSession> {
    const startedAt = performance.now();
    const args = [...(spec.netns ? ['ip', 'netns', 'exec', spec.netns] : []), loaderBinary, '--object', spec.object];
    for (const [program, point] of Object.entries(spec.attach)) args.push('--attach', `${program}=${point}`);
    for (const [map, type] of Object.entries(spec.ringbufs ?? {})) args.push('--ringbuf', `${map}=${type}`);
    for (const [map, type] of Object.entries(spec.perf ?? {})) args.push('--perf', `${map}=${type}`);
    for (const [map, types] of Object.entries(spec.maps ?? {})) args.push('--map', mapArg(map, types));
    for (const field of spec.bytes ?? []) args.push('--bytes', field);
    for (const [global, field] of Object.entries(spec.btfOffsets ?? {})) args.push('--btf-offset', `${global}=${field}`);
    for (const field of spec.btfFields ?? []) args.push('--btf-field', field);
    for (const [map, slots] of Object.entries(spec.progArrays ?? {})) {
      args.push('--prog-array', `${map}=${Object.entries(slots).map(([index, program]) => `${index}:${program}`).join(',')}`);
    }
    // exec: the loader becomes the command's process, so its exit (or the
    // signal it died of) is what the session sees.
    const process = await guest.stream(`exec ${args.map(shellQuote).join(' ')}`);
    const streamedMaps = [...Object.keys(spec.ringbufs ?? {}), ...Object.keys(spec.perf ?? {})];
    return LoaderSession.attach(process, { kernel, streamedMaps, assertUsable: () => guest.assertUsable() }, timeoutMs, startedAt);
  }

  /** A session over a loader that is already running; waits for its `ready` line. */
  static async attach(
    process: LoaderProcess,
    options: SessionOptions,
    timeoutMs = 120_000,
    startedAt = performance.now(),
  ): Promise<LoaderSession> {
    const session = new LoaderSession(process, options, startedAt);
    try {
      await session.#waitFor(() => session.#ready !== undefined, timeoutMs, "the loader's ready line");
      session.#moments.readyAt = performance.now();
    } catch (err) {
      await session[Symbol.asyncDispose]();
      throw err;
    }
    return session;
  }

  get ready(): ReadyLine {
    return this.#ready!;
  }

  /** The `stats` line, once the loader printed it (after `stop()`). */
  get stats(): StatsLine | undefined {
    return this.#stats;
  }

  /** The session's moments so far, for the report's phases. */
  get timeline(): LoaderTimeline {
    return { ...this.#moments, attachMs: this.#ready?.timings?.attachMs };
  }

  /** Waits until `predicate` holds over the events received so far. */
  async waitForEvents(predicate: (events: DecodedEvent[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    this.#assertRunning('waitForEvents');
    await this.#waitFor(() => predicate(this.events), timeoutMs, what);
  }

  /**
   * Closes the loader's stdin; it detaches, drains its buffers, dumps maps,
   * prints stats and exits. Resolves with everything it reported, once the
   * counts agree.
   */
  async stop(timeoutMs = 60_000): Promise<LoaderResult> {
    this.#assertRunning('stop');
    this.#state = 'stopping';
    this.#moments.stopCalledAt = performance.now();
    try {
      this.#process.endInput();
      await this.#waitFor(() => this.#stats !== undefined && this.#finished, timeoutMs, "the loader's stats line and exit after stop");
      const exit = await this.#process.done;
      if (exit.code !== 0) throw new Error(`${this.#options.kernel}: loader exited with ${exit.code ?? exit.signal} after stop\n${exit.stderr}`);
      const stats = this.#stats!;
      for (const map of this.#options.streamedMaps) {
        const read = Number(stats.perMap[map]);
        const received = this.events.filter((e) => e.map === map).length;
        if (read !== received) {
          throw new Error(`${this.#options.kernel}: the loader read ${stats.perMap[map] ?? 'no count'} records from ${map}, but ${received} events from it arrived`);
        }
      }
      this.#moments.stoppedAt = performance.now();
      return { ready: this.#ready!, events: this.events, maps: this.#maps, logs: this.logs, stats };
    } finally {
      await this[Symbol.asyncDispose]();
    }
  }

  /** Kills the loader if it still runs; from then on the session refuses use. Idempotent. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    if (!this.#finished) await this.#process.kill().catch(() => 'the guest is gone');
    await settlesWithin(this.#reading, 10_000);
  }

  #assertRunning(call: string): void {
    if (this.#state !== 'running') throw new Error(`${this.#options.kernel}: ${call}() on a loader session that was already stopped`);
  }

  async #read(): Promise<void> {
    try {
      for await (const raw of this.#process.lines) {
        if (raw.trim() === '') continue;
        const line = parseLoaderLine(raw);
        switch (line.kind) {
          case 'ready': this.#ready = line; break;
          case 'event':
            if (line.fields === null) this.#failure ??= new LoaderDecodeError(this.#options.kernel, line);
            else this.events.push(line as DecodedEvent);
            break;
          case 'map': this.#maps.set(line.name, line); break;
          case 'log': this.logs.push(line); break;
          case 'stats': this.#stats = line; break;
          case 'error': this.#errorLine = line; break;
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#failure ??= new ProtocolError(`${this.#options.kernel}: ${message}`);
      void this.#process.kill().catch(() => {});
    }
  }

  async #waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const { kernel } = this.#options;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.#options.assertUsable?.();
      if (this.#errorLine) {
        await settlesWithin(this.#process.done, 5_000); // its stderr says more
        throw new LoaderError(kernel, this.#errorLine, this.#process.stderrSoFar());
      }
      if (this.#failure) throw this.#failure;
      if (condition()) return;
      if (this.#finished) {
        const exit = await this.#process.done; // rejects with the VM's death, if that is what ended it
        const how = exit.signal ? `died of ${exit.signal}` : `exited with status ${exit.code}`;
        throw new Error(`${kernel}: loader ${how} before ${what}\n--- loader stderr ---\n${exit.stderr}`);
      }
      if (Date.now() > deadline) {
        const killed = await this.#process.kill().catch((e: Error) => `killing it failed: ${e.message}`);
        const last = this.events.slice(-3).map((e) => JSON.stringify(e.fields)).join('\n  ');
        throw new Error(
          `${kernel}: timed out after ${timeoutMs} ms waiting for ${what} (the loader ${killed.replace(/^its /, 'was stopped: its ')}); ` +
            `${this.events.length} events and ${this.logs.length} log records had arrived${last ? `, the last:\n  ${last}` : ''}`,
        );
      }
      await sleep(50);
    }
  }
}
