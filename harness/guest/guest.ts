import { readFile } from 'node:fs/promises';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import pRetry from 'p-retry';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command died of a signal. */
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  /** Milliseconds before the command is killed in the guest and the call rejects. */
  timeout?: number;
  /** Bytes written to the command's stdin, which is then closed. */
  stdin?: string;
}

/** A running command whose stdout arrives line by line. */
export interface StreamingCommand {
  lines: AsyncIterable<string>;
  /** Closes the command's stdin (the loader's "stop now"). */
  endInput(): void;
  /** Resolves when the command exits, with everything it wrote to stderr. */
  done: Promise<ExecResult>;
  /** Tears the channel down (the process gets SIGHUP with it). */
  close(): void;
}

export class CommandTimeoutError extends Error {
  readonly partial: ExecResult;
  constructor(command: string, timeoutMs: number, partial: ExecResult) {
    super(`guest command timed out after ${timeoutMs} ms: ${command}\n--- stdout ---\n${partial.stdout}\n--- stderr ---\n${partial.stderr}`);
    this.partial = partial;
  }
}

/**
 * An SSH session into a guest: exec with exit status and timeout, streaming
 * exec, SFTP upload. One ssh2 connection, many channels.
 */
export class Guest {
  readonly #client: Client;

  private constructor(client: Client) {
    this.#client = client;
  }

  /**
   * Connects, retrying while sshd is still coming up. A failed ssh2 Client is
   * not reusable, so each attempt builds a new one.
   */
  static async connect(
    options: { port: number; privateKeyPath: string; deadline: number; signal?: AbortSignal },
  ): Promise<Guest> {
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
    return new Guest(client);
  }

  /** Runs a shell command; never rejects on a non-zero exit, only on timeout or a broken connection. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const running = await this.stream(command);
    if (options.stdin !== undefined) running.endInputWith(options.stdin);
    else running.endInput();
    const finished = (async () => {
      for await (const _line of running.lines); // keep the channel flowing; stream() collects the text
      const result = await running.done;
      return { ...result, stdout: running.stdoutSoFar() };
    })();
    if (!options.timeout) return finished;
    const timeout = options.timeout;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        running.close();
        const partial = { stdout: running.stdoutSoFar(), stderr: running.stderrSoFar(), code: null, signal: null };
        reject(new CommandTimeoutError(command, timeout, partial));
      }, timeout);
    });
    try {
      return await Promise.race([finished, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts a command and hands back its stdout lines as they come. */
  async stream(command: string): Promise<StreamingCommand & {
    endInputWith(data: string): void;
    stdoutSoFar(): string;
    stderrSoFar(): string;
  }> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      this.#client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
    let stdout = '';
    let stderr = '';
    let code: number | null = null;
    let signal: string | null = null;
    channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    channel.on('exit', (c: number | null, s?: string) => {
      code = c ?? null;
      signal = s ?? null;
    });
    const done = new Promise<ExecResult>((resolve) => {
      channel.on('close', () => resolve({ stdout, stderr, code, signal }));
    });
    async function* lines(): AsyncGenerator<string> {
      let pending = '';
      for await (const chunk of channel as AsyncIterable<Buffer>) {
        const text = chunk.toString();
        stdout += text;
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          yield pending.slice(0, nl);
          pending = pending.slice(nl + 1);
        }
      }
      if (pending) yield pending;
    }
    return {
      lines: lines(),
      endInput: () => channel.end(),
      endInputWith: (data: string) => channel.end(data),
      done,
      close: () => channel.close(),
      stdoutSoFar: () => stdout,
      stderrSoFar: () => stderr,
    };
  }

  /** Copies a host file into the guest over SFTP. */
  async upload(localPath: string, remotePath: string, mode = 0o755): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#client.sftp((err, sftp) => {
        if (err) return reject(err);
        // concurrency 1: some sftp servers mishandle parallel writes, and
        // these files are small enough that it costs nothing.
        sftp.fastPut(localPath, remotePath, { mode, concurrency: 1 }, (putErr) => {
          sftp.end();
          if (putErr) reject(new Error(`upload ${localPath} → guest:${remotePath}: ${putErr.message}`));
          else resolve();
        });
      });
    });
  }

  async dmesg(): Promise<string> {
    return (await this.exec('dmesg', { timeout: 30_000 })).stdout;
  }

  close(): void {
    this.#client.end();
  }
}

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
