import { basename } from 'node:path';
import type { Guest, StreamingCommand } from '../guest/guest.ts';
import { sleep } from '../util/time.ts';
import {
  ProtocolError,
  parseLoaderLine,
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
  /** program name → attach point, e.g. `{ sched_process_exec: 'tracepoint:sched/sched_process_exec' }`. */
  attach: Record<string, string>;
  /** RingBuf map → event type name the loader decodes. */
  ringbufs?: Record<string, string>;
  /** PerfEventArray map → event type name the loader decodes. */
  perf?: Record<string, string>;
  /** map → `KEY:VALUE` type names, dumped when the loader stops. */
  maps?: Record<string, string>;
  /** global → `struct.field`: set to that field's offset in the running kernel's BTF before load. */
  btfOffsets?: Record<string, string>;
  /** `struct.field`s whose offsets are only reported, in the ready line. */
  btfFields?: string[];
  /** Run the loader inside this network namespace (`ip netns exec`), to attach to its interfaces. */
  netns?: string;
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

export interface LoaderResult {
  ready: ReadyLine;
  events: EventLine[];
  maps: Map<string, MapLine>;
  logs: LogLine[];
  stats: StatsLine;
}

const GUEST_DIR = '/tmp/kmatrix';

/**
 * A loader running in the guest: started, it loads and attaches; `stop()`
 * closes its stdin, and it dumps its maps and exits. Every stdout line goes
 * through the protocol schema.
 */
export class LoaderSession {
  readonly events: EventLine[] = [];
  readonly logs: LogLine[] = [];
  readonly #maps = new Map<string, MapLine>();
  #stats?: StatsLine;
  #error?: ErrorLine;
  #protocolError?: ProtocolError;
  #ready?: ReadyLine;
  readonly #command: StreamingCommand;
  readonly #kernel: string;
  readonly #reading: Promise<void>;

  private constructor(command: StreamingCommand, kernel: string) {
    this.#command = command;
    this.#kernel = kernel;
    this.#reading = this.#read();
  }

  /** Uploads the loader and the object, starts the loader, waits for `ready`. */
  static async start(guest: Guest, kernel: string, loaderBinary: string, spec: LoaderSpec, timeoutMs = 120_000): Promise<LoaderSession> {
    await guest.exec(`mkdir -p ${GUEST_DIR} && chmod 755 ${GUEST_DIR}`);
    const remoteLoader = `${GUEST_DIR}/kmatrix-loader`;
    const remoteObject = `${GUEST_DIR}/${basename(spec.object)}.bpf.o`;
    await guest.upload(loaderBinary, remoteLoader, 0o755);
    await guest.upload(spec.object, remoteObject, 0o644);
    const args = [...(spec.netns ? ['ip', 'netns', 'exec', spec.netns] : []), remoteLoader, '--object', remoteObject];
    for (const [program, point] of Object.entries(spec.attach)) args.push('--attach', `${program}=${point}`);
    for (const [map, type] of Object.entries(spec.ringbufs ?? {})) args.push('--ringbuf', `${map}=${type}`);
    for (const [map, type] of Object.entries(spec.perf ?? {})) args.push('--perf', `${map}=${type}`);
    for (const [map, types] of Object.entries(spec.maps ?? {})) args.push('--map', `${map}=${types}`);
    for (const [global, field] of Object.entries(spec.btfOffsets ?? {})) args.push('--btf-offset', `${global}=${field}`);
    for (const field of spec.btfFields ?? []) args.push('--btf-field', field);
    const session = new LoaderSession(await guest.stream(args.map(shellQuote).join(' ')), kernel);
    await session.#waitFor(() => session.#ready !== undefined, timeoutMs, 'the loader\'s ready line');
    return session;
  }

  get ready(): ReadyLine {
    return this.#ready!;
  }

  /** Waits until `predicate` holds over the events received so far. */
  async waitForEvents(predicate: (events: EventLine[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    await this.#waitFor(() => predicate(this.events), timeoutMs, what);
  }

  /** Closes the loader's stdin; it drains its buffers, dumps maps, prints stats and exits. */
  async stop(timeoutMs = 60_000): Promise<LoaderResult> {
    this.#command.endInput();
    await this.#waitFor(() => this.#stats !== undefined, timeoutMs, 'the loader\'s stats line after stop');
    await this.#reading;
    const exit = await this.#command.done;
    if (exit.code !== 0) throw new Error(`${this.#kernel}: loader exited with ${exit.code ?? exit.signal}\n${exit.stderr}`);
    return { ready: this.#ready!, events: this.events, maps: this.#maps, logs: this.logs, stats: this.#stats! };
  }

  async #read(): Promise<void> {
    try {
      for await (const raw of this.#command.lines) {
        if (raw.trim() === '') continue;
        const line = parseLoaderLine(raw);
        switch (line.kind) {
          case 'ready': this.#ready = line; break;
          case 'event': this.events.push(line); break;
          case 'map': this.#maps.set(line.name, line); break;
          case 'log': this.logs.push(line); break;
          case 'stats': this.#stats = line; break;
          case 'error': this.#error = line; break;
        }
      }
    } catch (err) {
      this.#protocolError = err instanceof ProtocolError ? err : new ProtocolError(String(err));
      this.#command.close();
    }
  }

  async #waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let finished = false;
    void this.#reading.then(() => (finished = true));
    for (;;) {
      if (this.#error) throw new LoaderError(this.#kernel, this.#error, (await this.#command.done).stderr);
      if (this.#protocolError) throw this.#protocolError;
      if (condition()) return;
      if (finished) {
        const exit = await this.#command.done;
        throw new Error(`${this.#kernel}: loader exited (${exit.code ?? exit.signal}) before ${what}\n${exit.stderr}`);
      }
      if (Date.now() > deadline) {
        this.#command.close();
        const last = this.events.slice(-3).map((e) => JSON.stringify(e.fields ?? e)).join('\n  ');
        throw new Error(
          `${this.#kernel}: timed out after ${timeoutMs} ms waiting for ${what}; ` +
            `${this.events.length} events and ${this.logs.length} log records had arrived${last ? `, the last:\n  ${last}` : ''}`,
        );
      }
      await sleep(50);
    }
  }
}

/** POSIX single-quote quoting for the guest's shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:,+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
