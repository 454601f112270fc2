import { readFile } from 'node:fs/promises';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import pRetry from 'p-retry';
import { settlesWithin } from '../util/time.ts';
import { LineQueue } from './line-queue.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command died of a signal. */
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  /** Milliseconds before the command is killed in the guest and the call rejects (default 60 s). */
  timeout?: number;
  /** Bytes written to the command's stdin, which is then closed. */
  stdin?: string;
}

/** Every guest call has a deadline; this one applies where the caller names none. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** How long a lost connection waits for the VM's death to be established (see whyGone). */
const DEATH_GRACE_MS = 5_000;
/** How long killing a command in the guest may take before we give up on it. */
const KILL_TIMEOUT_MS = 10_000;

export class CommandTimeoutError extends Error {
  readonly partial: ExecResult;
  constructor(label: string, command: string, timeoutMs: number, partial: ExecResult, killed: string) {
    super(
      `${label}: guest command timed out after ${timeoutMs} ms and ${killed}: ${command}\n` +
        `--- stdout ---\n${partial.stdout}\n--- stderr ---\n${partial.stderr}`,
    );
    this.partial = partial;
  }
}

/** The guest cannot be used: it was closed, or its SSH connection is gone. */
export class GuestUnavailableError extends Error {}

/**
 * A command running in the guest. Its shell is a session leader (sshd runs
 * every command under setsid), and reports its pid, which is therefore the
 * id of the session and process group everything it starts belongs to:
 * `kill()` ends all of them. Closing an SSH channel without a terminal sends
 * the remote command no signal at all, so this is the only way to stop it.
 */
export class RunningCommand {
  readonly command: string;
  /** stdout, line by line (the pid line excluded). */
  readonly lines: AsyncIterable<string>;
  /** Resolves when the command exits; rejects when the connection or the VM is lost first. */
  readonly done: Promise<ExecResult>;
  #channel: ClientChannel;
  #guest: Guest;
  #stdout = '';
  #stderr = '';
  #sessionId?: number;
  #pending = '';
  #queue = new LineQueue();

  constructor(guest: Guest, channel: ClientChannel, command: string) {
    this.#guest = guest;
    this.#channel = channel;
    this.command = command;
    this.lines = this.#queue;
    let exit: { code: number | null; signal: string | null } | undefined;
    channel.on('exit', (code: number | null, signal?: string) => (exit = { code: code ?? null, signal: signal ?? null }));
    channel.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    channel.on('data', (chunk: Buffer) => this.#onStdout(chunk.toString()));
    this.done = new Promise<ExecResult>((resolve, reject) => {
      channel.on('close', () => {
        if (this.#pending) this.#line(this.#pending);
        this.#pending = '';
        this.#queue.end();
        if (exit) resolve({ stdout: this.#stdout, stderr: this.#stderr, ...exit });
        else void guest.whyGone(`the SSH channel of \`${command}\` closed without an exit status`).then(reject);
      });
    });
    this.done.catch(() => {}); // callers that only iterate `lines` must not crash the process
  }

  #onStdout(text: string): void {
    this.#pending += text;
    let nl: number;
    while ((nl = this.#pending.indexOf('\n')) >= 0) {
      this.#line(this.#pending.slice(0, nl));
      this.#pending = this.#pending.slice(nl + 1);
    }
  }

  #line(line: string): void {
    if (this.#sessionId === undefined) {
      this.#sessionId = Number(line);
      return;
    }
    this.#stdout += `${line}\n`;
    this.#queue.push(line);
  }

  /** Closes stdin, after writing `data` if given. */
  endInput(data?: string): void {
    if (data === undefined) this.#channel.end();
    else this.#channel.end(data);
  }

  stdoutSoFar(): string {
    return this.#stdout;
  }

  stderrSoFar(): string {
    return this.#stderr;
  }

  /**
   * Kills the command's whole session in the guest and waits for its
   * channel to close. Says what it did, for error messages.
   */
  async kill(): Promise<string> {
    const sid = this.#sessionId;
    if (sid === undefined || !Number.isInteger(sid) || sid <= 1) {
      this.#channel.close();
      return 'its channel was closed (it had not reported its pid)';
    }
    // By session and by process group: a child that made a process group
    // of its own (a shell's job control) is still in the session.
    const killer = `pkill -KILL -s ${sid}; kill -KILL -- -${sid} 2>/dev/null; true`;
    await this.#guest.exec(killer, { timeout: KILL_TIMEOUT_MS });
    if (!(await settlesWithin(this.done, KILL_TIMEOUT_MS))) this.#channel.close();
    return `its session ${sid} was killed in the guest`;
  }
}

/**
 * An SSH session into a guest: exec with exit status and a deadline,
 * streaming exec, SFTP upload. One ssh2 connection, many channels. When
 * the VM dies (`lost` aborts), every call in flight rejects with the
 * reason; a closed guest refuses further calls.
 */
export class Guest {
  readonly label: string;
  readonly #client: Client;
  readonly #lost?: AbortSignal;
  #closed?: string;
  #closedByUs = false;

  private constructor(client: Client, label: string, lost?: AbortSignal) {
    this.#client = client;
    this.label = label;
    this.#lost = lost;
    client.on('close', () => (this.#closed ??= 'its SSH connection closed'));
  }

  /**
   * Connects, retrying while sshd is still coming up. A failed ssh2 Client is
   * not reusable, so each attempt builds a new one.
   */
  static async connect(options: {
    port: number;
    privateKeyPath: string;
    deadline: number;
    /** Names the guest in errors, e.g. "kernel 6.1". */
    label: string;
    /** Aborts (with the reason) when the VM dies. */
    lost?: AbortSignal;
    signal?: AbortSignal;
  }): Promise<Guest> {
    const privateKey = await readFile(options.privateKeyPath);
    const config: ConnectConfig = {
      host: '127.0.0.1',
      port: options.port,
      username: 'root',
      privateKey,
      readyTimeout: 15_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 6,
    };
    const client = await pRetry(() => connectOnce(config), {
      retries: 1_000,
      minTimeout: 250,
      maxTimeout: 1_000,
      factor: 1.5,
      maxRetryTime: Math.max(0, options.deadline - Date.now()),
      signal: options.signal,
    });
    return new Guest(client, options.label, options.lost);
  }

  /**
   * Why the guest is gone, as an error: the VM's death if that is the
   * reason. A dying VM drops the SSH connection a moment before QEMU's exit
   * and the console's last words are seen, so a lost connection waits a
   * little for the verdict before blaming SSH itself.
   */
  async whyGone(what: string): Promise<Error> {
    const lost = this.#lost;
    if (lost && !lost.aborted && !this.#closedByUs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DEATH_GRACE_MS);
        lost.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    if (lost?.aborted) return lost.reason as Error;
    return new GuestUnavailableError(`${this.label}: ${what}${this.#closed ? ` (${this.#closed})` : ''}`);
  }

  /** Throws if the guest cannot be used: its VM died, or it was closed. */
  async assertUsable(): Promise<void> {
    if (this.#lost?.aborted) throw this.#lost.reason;
    if (this.#closed) throw await this.whyGone('the guest cannot be used');
  }

  /**
   * Runs a shell command; never rejects on a non-zero exit, only on its
   * deadline (the command is killed in the guest first), a lost connection
   * or a dead VM.
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const timeout = options.timeout ?? DEFAULT_EXEC_TIMEOUT_MS;
    const running = await this.stream(command);
    running.endInput(options.stdin);
    const result = await this.#within(running.done, timeout);
    if (result !== TIMED_OUT) return result;
    const killed = await running.kill().catch((err: Error) => `killing it failed: ${err.message}`);
    const partial = { stdout: running.stdoutSoFar(), stderr: running.stderrSoFar(), code: null, signal: null };
    throw new CommandTimeoutError(this.label, command, timeout, partial, killed);
  }

  /** Starts a command and hands back its stdout lines as they come. The caller owns its deadline and must kill it. */
  async stream(command: string): Promise<RunningCommand> {
    await this.assertUsable();
    const wrapped = `echo $$; ${command}`;
    const started = await this.#within(
      new Promise<RunningCommand>((resolve, reject) => {
        // The command's listeners go on inside the callback, in the same
        // tick: a fast command's exit status can arrive in the same read as
        // the channel's confirmation, and an 'exit' event nobody listens to
        // yet is gone for good.
        this.#client.exec(wrapped, (err, channel) => {
          if (err) void this.whyGone(`cannot start \`${command}\`: ${err.message}`).then(reject);
          else resolve(new RunningCommand(this, channel, command));
        });
      }),
      DEFAULT_EXEC_TIMEOUT_MS,
    );
    if (started === TIMED_OUT) throw await this.whyGone(`no channel for \`${command}\` within ${DEFAULT_EXEC_TIMEOUT_MS} ms`);
    return started;
  }

  /** Copies a host file into the guest over SFTP. */
  async upload(localPath: string, remotePath: string, mode = 0o755, timeout = DEFAULT_EXEC_TIMEOUT_MS): Promise<void> {
    await this.assertUsable();
    let end = () => {};
    const put = new Promise<void>((resolve, reject) => {
      this.#client.sftp((err, sftp) => {
        if (err) return void this.whyGone(`no SFTP session: ${err.message}`).then(reject);
        end = () => sftp.end();
        // concurrency 1: some sftp servers mishandle parallel writes, and
        // these files are small enough that it costs nothing.
        sftp.fastPut(localPath, remotePath, { mode, concurrency: 1 }, (putErr) => {
          sftp.end();
          if (putErr) reject(new Error(`${this.label}: upload ${localPath} → guest:${remotePath}: ${putErr.message}`));
          else resolve();
        });
      });
    });
    const result = await this.#within(put, timeout);
    if (result === TIMED_OUT) {
      end();
      throw new Error(`${this.label}: upload ${localPath} → guest:${remotePath} did not finish within ${timeout} ms`);
    }
  }

  async dmesg(): Promise<string> {
    return (await this.exec('dmesg', { timeout: 30_000 })).stdout;
  }

  /** Ends the connection; every later call fails with a clear error. Idempotent. */
  close(): void {
    this.#closedByUs = true;
    this.#closed ??= 'it was closed (its VM was stopped)';
    this.#client.end();
  }

  /** `work`'s value, or TIMED_OUT after `ms`; rejects at once when the VM dies. */
  async #within<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
    let timer: NodeJS.Timeout | undefined;
    let onLost = () => {};
    const lost = new Promise<never>((_, reject) => {
      if (!this.#lost) return;
      onLost = () => reject(this.#lost!.reason);
      if (this.#lost.aborted) onLost();
      else this.#lost.addEventListener('abort', onLost, { once: true });
    });
    const expired = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)));
    try {
      return await Promise.race([work, expired, lost]);
    } finally {
      clearTimeout(timer);
      this.#lost?.removeEventListener('abort', onLost);
    }
  }
}

const TIMED_OUT = Symbol('timed out');

function connectOnce(config: ConnectConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    // ssh2 may emit several errors for one failed attempt, and an 'error'
    // without a listener would crash the process: keep one for its lifetime.
    client.on('error', (err) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    });
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.connect(config);
  });
}
