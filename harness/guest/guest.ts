import { readFile } from 'node:fs/promises';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import pRetry from 'p-retry';
import { settlesWithin } from '../util/time.ts';
import { LineQueue } from './line-queue.ts';
import { GuestAgent } from './agent.ts';

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
export const KILL_TIMEOUT_MS = 10_000;
/** How long the agent may take to listen once sshd answers: it starts at boot, beside sshd. */
const AGENT_WAIT_MS = 10_000;

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

/** How a {@link RunningCommand} reaches its process: an SSH channel, or the guest agent. */
export interface CommandTransport {
  write(data: string): void;
  /** Closes the command's stdin. */
  end(): void;
  /** Kills the command's whole session in the guest (`sid`, its pid), or gives up its channel. */
  kill(sid: number | undefined): Promise<string>;
}

/**
 * A command running in the guest. Its shell is a session leader and its pid
 * is therefore the id of the session and process group everything it starts
 * belongs to: `kill()` ends all of them. (Closing an SSH channel without a
 * terminal sends the remote command no signal at all, so this is the only
 * way to stop it.) The transport feeds it through the `_`-methods.
 */
export class RunningCommand {
  readonly command: string;
  /** stdout, line by line. */
  readonly lines: AsyncIterable<string>;
  /** stderr, line by line (where Rust programs log, env_logger and tracing by default). */
  readonly stderrLines: AsyncIterable<string>;
  /** Resolves when the command exits; rejects when the connection or the VM is lost first. */
  readonly done: Promise<ExecResult>;
  #transport: CommandTransport;
  #stdout = '';
  #stderr = '';
  #sessionId?: number;
  #queue = new LineQueue();
  #stderrQueue = new LineQueue();
  #exit?: { code: number | null; signal: string | null };
  #settle!: { resolve: (r: ExecResult) => void; reject: (e: Error) => void };

  constructor(transport: CommandTransport, command: string) {
    this.#transport = transport;
    this.command = command;
    this.lines = this.#queue;
    this.stderrLines = this.#stderrQueue;
    this.done = new Promise<ExecResult>((resolve, reject) => (this.#settle = { resolve, reject }));
    this.done.catch(() => {}); // callers that only iterate `lines` must not crash the process
  }

  /** The command's session id (its shell's pid), once known. */
  _started(sessionId: number): void {
    this.#sessionId = sessionId;
  }

  get sessionId(): number | undefined {
    return this.#sessionId;
  }

  _stdout(text: string): void {
    this.#stdout += text;
    this.#queue.write(text);
  }

  _stderr(text: string): void {
    this.#stderr += text;
    this.#stderrQueue.write(text);
  }

  _exit(code: number | null, signal: string | null): void {
    this.#exit = { code, signal };
  }

  /** The output is over: resolves with the exit status, or rejects with `lost()` when there is none. */
  _closed(lost: () => Promise<Error>): void {
    this.#queue.end();
    this.#stderrQueue.end();
    if (this.#exit) this.#settle.resolve({ stdout: this.#stdout, stderr: this.#stderr, ...this.#exit });
    else void lost().then(this.#settle.reject);
  }

  /** Closes stdin, after writing `data` if given. */
  endInput(data?: string): void {
    if (data !== undefined) this.#transport.write(data);
    this.#transport.end();
  }

  stdoutSoFar(): string {
    return this.#stdout;
  }

  stderrSoFar(): string {
    return this.#stderr;
  }

  /**
   * Kills the command's whole session in the guest and waits for it to be
   * over. Says what it did, for error messages.
   */
  kill(): Promise<string> {
    return this.#transport.kill(this.#sessionId);
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
  #agent?: GuestAgent;

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
    /**
     * Guest path of the socket kmatrix-agent listens on: commands then run
     * through it, one round trip each, instead of an SSH channel and a login
     * shell each. sshd connects the session's channel to it without a
     * process of its own (OpenSSH's streamlocal forwarding).
     */
    agentSocket?: string;
  }): Promise<Guest> {
    const privateKey = await readFile(options.privateKeyPath);
    const config: ConnectConfig = {
      host: '127.0.0.1',
      port: options.port,
      username: 'root',
      privateKey,
      // The key and nothing else: ssh2 would first ask for "none", a round
      // trip the guest's sshd refuses.
      authHandler: ['publickey'],
      readyTimeout: 15_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 6,
    };
    // Every 100 ms: a refused connection costs nothing, and sshd answers
    // within a few hundred ms of the guest's network.
    const client = await pRetry(() => connectOnce(config), {
      retries: 10_000,
      minTimeout: 100,
      maxTimeout: 100,
      factor: 1,
      maxRetryTime: Math.max(0, options.deadline - Date.now()),
      signal: options.signal,
    });
    const guest = new Guest(client, options.label, options.lost);
    if (options.agentSocket) {
      try {
        const channel = await guest.#agentChannel(options.agentSocket, options.deadline);
        const starting = GuestAgent.start(channel, (what) => guest.whyGone(what));
        // Every wait has a deadline: an agent that takes the connection but
        // never answers fails the session here, not the test that waits on it.
        if (!(await settlesWithin(starting, AGENT_WAIT_MS))) {
          channel.close();
          throw new Error(`it took the connection but did not run \`true\` within ${AGENT_WAIT_MS} ms`);
        }
        guest.#agent = await starting;
      } catch (err) {
        guest.close();
        throw new Error(`${options.label}: the guest agent at ${options.agentSocket} cannot be reached: ${(err as Error).message}`);
      }
    }
    return guest;
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
    if (this.#agent) return this.#agent.run(command);
    // Without the agent: a channel per command, whose shell reports its pid first.
    let running: RunningCommand | undefined;
    await this.#sshChannel(`echo $$; ${command}`, (ch) => {
      // The listeners go on as soon as the channel exists, in the same tick:
      // a fast command's exit status can arrive in the same read as the
      // channel's confirmation, and an 'exit' event nobody listens to yet is
      // gone for good.
      running = new RunningCommand(this.#sshTransport(ch, () => running!), command);
      let pidLine: string | undefined = '';
      ch.on('exit', (code: number | null, signal?: string) => running!._exit(code ?? null, signal ?? null));
      ch.stderr.on('data', (chunk: Buffer) => running!._stderr(chunk.toString()));
      ch.on('data', (chunk: Buffer) => {
        let text = chunk.toString();
        if (pidLine !== undefined) {
          pidLine += text;
          const nl = pidLine.indexOf('\n');
          if (nl < 0) return;
          running!._started(Number(pidLine.slice(0, nl)));
          text = pidLine.slice(nl + 1);
          pidLine = undefined;
        }
        if (text) running!._stdout(text);
      });
      ch.on('close', () => running!._closed(() => this.whyGone(`the SSH channel of \`${command}\` closed without an exit status`)));
    });
    return running!;
  }

  /**
   * A channel to the agent's socket. The guest starts the agent at boot, in
   * parallel with sshd, so the first tries may find no socket yet.
   */
  async #agentChannel(socketPath: string, deadline: number): Promise<ClientChannel> {
    // Each try has its own deadline: sshd answers a channel request at once,
    // but a guest that stopped answering must not hold the session forever.
    const open = () =>
      new Promise<ClientChannel>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sshd did not answer a channel to ${socketPath} within ${AGENT_WAIT_MS} ms`)), AGENT_WAIT_MS);
        this.#client.openssh_forwardOutStreamLocal(socketPath, (err, channel) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(channel);
        });
      });
    return pRetry(open, { retries: 10_000, minTimeout: 20, maxTimeout: 20, factor: 1, maxRetryTime: Math.max(0, Math.min(deadline, Date.now() + AGENT_WAIT_MS) - Date.now()) });
  }

  /** An exec channel; `wire` runs in the tick the channel opens. */
  #sshChannel(command: string, wire: (channel: ClientChannel) => void = () => {}): Promise<ClientChannel> {
    const opened = new Promise<ClientChannel>((resolve, reject) => {
      this.#client.exec(command, (err, channel) => {
        if (err) return void this.whyGone(`cannot start \`${command}\`: ${err.message}`).then(reject);
        wire(channel);
        resolve(channel);
      });
    });
    return this.#within(opened, DEFAULT_EXEC_TIMEOUT_MS).then(async (result) => {
      if (result === TIMED_OUT) throw await this.whyGone(`no channel for \`${command}\` within ${DEFAULT_EXEC_TIMEOUT_MS} ms`);
      return result;
    });
  }

  #sshTransport(channel: ClientChannel, running: () => RunningCommand): CommandTransport {
    return {
      write: (data) => void channel.write(data),
      end: () => void channel.end(),
      kill: async (sid) => {
        if (sid === undefined || !Number.isInteger(sid) || sid <= 1) {
          channel.close();
          return 'its channel was closed (it had not reported its pid)';
        }
        // By session and by process group: a child that made a process group
        // of its own (a shell's job control) is still in the session.
        await this.exec(`pkill -KILL -s ${sid}; kill -KILL -- -${sid} 2>/dev/null; true`, { timeout: KILL_TIMEOUT_MS });
        if (!(await settlesWithin(running().done, KILL_TIMEOUT_MS))) channel.close();
        return `its session ${sid} was killed in the guest`;
      },
    };
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
    this.#agent?.close();
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
    // Commands are small request/reply exchanges: with Nagle's algorithm on,
    // each waits for the guest's delayed ACK, which under software emulation
    // made the SSH handshake 150 ms and every round trip tens of ms slower.
    client.setNoDelay(true);
  });
}
