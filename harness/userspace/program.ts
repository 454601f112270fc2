import type { ExecResult, Guest, RunningCommand } from '../guest/guest.ts';
import { shellQuote } from '../util/shell.ts';
import { within } from '../util/time.ts';

/** How long a program may take to exit once signalled before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export class ProgramError extends Error {}

/** How a program ended: its exit status, and everything it printed. */
export interface ProgramExit extends ExecResult {
  /** stdout, line by line. */
  lines: string[];
  /** stderr, line by line. */
  stderrLines: string[];
}

/** Which output a wait reads. */
export type OutputStream = 'stdout' | 'stderr';

/** One output of the program: the lines read so far, and the reader for the rest. */
interface Output {
  lines: string[];
  reader: AsyncIterator<string>;
}

/**
 * A project's own userspace binary (its loader, say: aya + tokio, embedding
 * or loading its object) running in the guest. Its stdout and stderr are
 * read line by line as they come; it is stopped by a signal, as an operator would, and
 * killed with its whole session when the case ends, whatever happened.
 */
export class UserProgram implements AsyncDisposable {
  readonly name: string;
  readonly #label: string;
  readonly #guest: Guest;
  readonly #process: RunningCommand;
  readonly #outputs: Record<OutputStream, Output>;
  #exit?: ProgramExit;

  private constructor(name: string, label: string, guest: Guest, process: RunningCommand) {
    this.name = name;
    this.#label = label;
    this.#guest = guest;
    this.#process = process;
    this.#outputs = {
      stdout: { lines: [], reader: process.lines[Symbol.asyncIterator]() },
      stderr: { lines: [], reader: process.stderrLines[Symbol.asyncIterator]() },
    };
  }

  /** Starts `path` with `args` and `env` in a session of its own in the guest. */
  static async start(guest: Guest, label: string, name: string, path: string, args: string[] = [], env: Record<string, string> = {}): Promise<UserProgram> {
    for (const key of Object.keys(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new ProgramError(`${label}: ${name}: environment variable name ${JSON.stringify(key)} is not valid`);
    }
    const assignments = Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)}`);
    // exec: the program becomes the session's leader, so its exit status
    // and the signal it died of are its own, and a signal to the session
    // reaches it first.
    const command = ['exec', ...(assignments.length ? ['env', ...assignments] : []), shellQuote(path), ...args.map(shellQuote)].join(' ');
    return new UserProgram(name, label, guest, await guest.stream(command));
  }

  /** stdout lines read so far. */
  get lines(): readonly string[] {
    return this.#outputs.stdout.lines;
  }

  /** stderr lines read so far. */
  get stderrLines(): readonly string[] {
    return this.#outputs.stderr.lines;
  }

  /**
   * Reads stdout (or stderr, where Rust programs log) until a line matches
   * `pattern` and returns it; fails with what the program printed if it
   * exits first or the deadline passes.
   */
  async waitForLine(pattern: RegExp, options: { timeoutMs?: number; stream?: OutputStream } | number = {}): Promise<string> {
    const { timeoutMs = 60_000, stream = 'stdout' } = typeof options === 'number' ? { timeoutMs: options } : options;
    const output = this.#outputs[stream];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = await within(output.reader.next(), deadline - Date.now());
      if (next === 'timeout') throw new ProgramError(`${this.#label}: ${this.name} printed no ${stream} line matching ${pattern} within ${timeoutMs} ms${this.#printed()}`);
      if (next.done) {
        const exit = await this.#process.done.catch((err: Error) => err);
        const how = exit instanceof Error ? exit.message : `it exited (code ${exit.code}, signal ${exit.signal})`;
        throw new ProgramError(`${this.#label}: ${this.name} printed no ${stream} line matching ${pattern}: ${how}${this.#printed()}`);
      }
      output.lines.push(next.value);
      if (pattern.test(next.value)) return next.value;
    }
  }

  /**
   * Sends `signal` to the program and waits for it to exit; a program that
   * outlives STOP_TIMEOUT_MS is killed, and that is an error.
   */
  async stop(signal: 'TERM' | 'INT' | 'HUP' | 'USR1' | 'USR2' = 'TERM'): Promise<ProgramExit> {
    if (this.#exit) return this.#exit;
    const sid = this.#process.sessionId;
    if (sid === undefined) throw new ProgramError(`${this.#label}: ${this.name}: no pid to signal (it never started)`);
    await this.#guest.exec(`kill -${signal} ${sid} 2>/dev/null; true`);
    const ended = await within(this.#process.done, STOP_TIMEOUT_MS);
    if (ended === 'timeout') {
      const killed = await this.#process.kill();
      throw new ProgramError(`${this.#label}: ${this.name} did not exit within ${STOP_TIMEOUT_MS} ms of SIG${signal}; ${killed}${this.#printed()}`);
    }
    return this.#finish(ended);
  }

  /** Waits for the program to exit by itself (a one-shot command). */
  async exited(timeoutMs = 60_000): Promise<ProgramExit> {
    const ended = await within(this.#process.done, timeoutMs);
    if (ended === 'timeout') {
      const killed = await this.#process.kill();
      throw new ProgramError(`${this.#label}: ${this.name} did not exit within ${timeoutMs} ms; ${killed}${this.#printed()}`);
    }
    return this.#finish(ended);
  }

  async #finish(result: ExecResult): Promise<ProgramExit> {
    for (const { lines, reader } of Object.values(this.#outputs)) {
      for (let next = await reader.next(); !next.done; next = await reader.next()) lines.push(next.value);
    }
    this.#exit = { ...result, lines: [...this.#outputs.stdout.lines], stderrLines: [...this.#outputs.stderr.lines] };
    return this.#exit;
  }

  #printed(): string {
    const stdout = this.#process.stdoutSoFar().trim().split('\n').slice(-10).join('\n');
    const stderr = this.#process.stderrSoFar().trim().split('\n').slice(-10).join('\n');
    return `${stdout ? `\n--- its last stdout lines ---\n${stdout}` : ''}${stderr ? `\n--- its last stderr lines ---\n${stderr}` : ''}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exit) await this.#process.kill().catch(() => {});
  }
}
