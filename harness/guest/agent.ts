import type { ClientChannel } from 'ssh2';
import * as z from 'zod';
import { settlesWithin } from '../util/time.ts';
import { KILL_TIMEOUT_MS, RunningCommand, type CommandTransport } from './guest.ts';

// kmatrix-agent's events (userspace-rs/src/bin/kmatrix-agent.rs).
const AgentEvent = z.discriminatedUnion('ev', [
  z.strictObject({ ev: z.literal('started'), id: z.number(), pid: z.number().int() }),
  z.strictObject({ ev: z.enum(['out', 'err']), id: z.number(), data: z.string() }),
  z.strictObject({ ev: z.literal('exit'), id: z.number(), code: z.number().int().nullable(), signal: z.string().nullable() }),
  z.strictObject({ ev: z.literal('error'), id: z.number().nullable(), message: z.string() }),
]);

/**
 * The guest end of a session's commands: kmatrix-agent, started once over
 * one SSH channel, spawns each command in a session of its own and streams
 * its output and exit status back. One round trip per command instead of
 * a channel, an sshd fork and a login shell.
 */
export class GuestAgent {
  readonly #channel: ClientChannel;
  readonly #commands = new Map<number, RunningCommand>();
  readonly #whyGone: (what: string) => Promise<Error>;
  #nextId = 1;
  #buffer = '';
  #gone?: string;

  private constructor(channel: ClientChannel, whyGone: (what: string) => Promise<Error>) {
    this.#channel = channel;
    this.#whyGone = whyGone;
    channel.on('data', (chunk: Buffer) => this.#onData(chunk.toString()));
    let stderr = '';
    channel.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    channel.on('close', () => {
      this.#gone = `the guest agent's channel closed${stderr ? `; it said: ${stderr.trim()}` : ''}`;
      for (const command of this.#commands.values()) command._closed(() => this.#whyGone(`\`${command.command}\` was cut off: ${this.#gone}`));
      this.#commands.clear();
    });
  }

  /** Starts the agent at `path` (a guest path) on `channel`, which runs it. */
  static async start(channel: ClientChannel, whyGone: (what: string) => Promise<Error>): Promise<GuestAgent> {
    const agent = new GuestAgent(channel, whyGone);
    // One command through it proves it runs (a missing binary, a libc the
    // guest lacks: said here, not in the first scenario).
    const probe = agent.run('true');
    probe.endInput();
    const result = await probe.done;
    if (result.code !== 0) throw new Error(`the guest agent cannot run commands: \`true\` ended ${JSON.stringify(result)}`);
    return agent;
  }

  get usable(): boolean {
    return !this.#gone;
  }

  run(command: string): RunningCommand {
    const id = this.#nextId++;
    const transport: CommandTransport = {
      write: (data) => this.#send({ op: 'input', id, data }),
      end: () => this.#send({ op: 'close', id }),
      kill: async (sid) => {
        this.#send({ op: 'kill', id });
        if (!(await settlesWithin(running.done, KILL_TIMEOUT_MS))) return `killing its session ${sid ?? '?'} did not end it within ${KILL_TIMEOUT_MS} ms`;
        return `its session ${sid ?? '?'} was killed in the guest`;
      },
    };
    const running = new RunningCommand(transport, command);
    if (this.#gone) {
      running._closed(() => this.#whyGone(`cannot start \`${command}\`: ${this.#gone}`));
      return running;
    }
    this.#commands.set(id, running);
    this.#send({ op: 'run', id, cmd: command });
    return running;
  }

  close(): void {
    this.#channel.end();
  }

  #send(request: Record<string, unknown>): void {
    if (!this.#gone) this.#channel.write(`${JSON.stringify(request)}\n`);
  }

  #onData(text: string): void {
    this.#buffer += text;
    let nl: number;
    while ((nl = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#onEvent(line);
    }
  }

  #onEvent(line: string): void {
    let event: z.infer<typeof AgentEvent>;
    try {
      event = AgentEvent.parse(JSON.parse(line));
    } catch (err) {
      // The agent's protocol is broken: nothing it says can be trusted.
      this.#gone = `the guest agent printed ${JSON.stringify(line.slice(0, 200))}, which is not an event (${(err as Error).message})`;
      this.#channel.close();
      return;
    }
    const command = event.id === null ? undefined : this.#commands.get(event.id);
    if (!command) return;
    switch (event.ev) {
      case 'started':
        command._started(event.pid);
        break;
      case 'out':
        command._stdout(event.data);
        break;
      case 'err':
        command._stderr(event.data);
        break;
      case 'exit':
        this.#commands.delete(event.id);
        command._exit(event.code, event.signal);
        command._closed(() => this.#whyGone('unreachable'));
        break;
      case 'error':
        this.#commands.delete(event.id!);
        command._closed(async () => new Error(`guest agent: \`${command.command}\`: ${event.message}`));
        break;
    }
  }
}
