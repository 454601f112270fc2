import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { Guest } from '../guest/guest.ts';
import type { KernelImage } from '../kernels/unpack.ts';
import { CaseWatch } from '../vm/case-watch.ts';
import type { VmHandle } from '../vm/vm-handle.ts';
import { VmDiedError } from '../vm/vm.ts';
import { BrokerMessage, type Granted, type Released } from './messages.ts';

/** How long a worker waits for a VM: other files' turns on it, and a boot. */
const LEASE_TIMEOUT_MS = 20 * 60_000;
/** How long the broker may take to reset the VM after a file. */
const RELEASE_TIMEOUT_MS = 120_000;

/** The VM was not fit for another file after this one: this file fails with why. */
export class VmLeftBrokenError extends Error {}

/**
 * A VM of the run's pool, held by one test file: a guest session of its
 * own into the shared VM, and the VM's death as the broker reports it.
 * Release it (`await using`, or the fixture's cleanup) and the broker
 * resets the VM for the next file; `release()` throws when the VM could
 * not be made fit again, which fails this file, not the next.
 */
export class LeasedVm implements VmHandle, AsyncDisposable {
  readonly kernel: KernelImage;
  readonly guest: Guest;
  readonly consoleLogPath: string;
  readonly bootMs: number;
  /** Which VM of the pool this is, and how many files it served before. */
  readonly vmId: string;
  readonly filesBefore: number;
  readonly #socket: Socket;
  readonly #messages: AsyncIterator<BrokerMessage>;
  readonly #died: AbortController;
  #released?: Promise<Released>;

  private constructor(parts: {
    kernel: KernelImage; guest: Guest; grant: Granted; socket: Socket; messages: AsyncIterator<BrokerMessage>; died: AbortController;
  }) {
    this.kernel = parts.kernel;
    this.guest = parts.guest;
    this.consoleLogPath = parts.grant.consoleLogPath;
    this.bootMs = parts.grant.bootMs;
    this.vmId = parts.grant.vmId;
    this.filesBefore = parts.grant.filesBefore;
    this.#socket = parts.socket;
    this.#messages = parts.messages;
    this.#died = parts.died;
  }

  /** Asks the broker at `socketPath` for a VM of `kernel`; waits for one (booted if need be). */
  static async acquire(
    socketPath: string,
    kernel: KernelImage,
    file: string,
    options: { own?: boolean } = {},
  ): Promise<LeasedVm> {
    const socket = connect(socketPath);
    socket.on('error', () => {}); // surfaces as the end of the message stream
    const messages = brokerMessages(socket);
    const died = new AbortController();
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (err) => reject(new Error(`the run's VM broker (${socketPath}) cannot be reached: ${err.message}`)));
      });
      socket.write(`${JSON.stringify({ type: 'lease', kernel: kernel.name, file, own: options.own ?? false })}\n`);
      const first = await withTimeout(messages.next(), LEASE_TIMEOUT_MS, `no VM of kernel ${kernel.name} within ${LEASE_TIMEOUT_MS / 60_000} min`);
      if (first.done) throw new Error(`kernel ${kernel.name}: the run's VM broker hung up before granting a VM`);
      if (first.value.type === 'refused') throw new Error(first.value.message);
      if (first.value.type !== 'granted') throw new Error(`kernel ${kernel.name}: the VM broker answered ${first.value.type} to a lease`);
      const grant = first.value;
      const guest = await Guest.connect({
        port: grant.port,
        privateKeyPath: grant.privateKeyPath,
        deadline: Date.now() + 60_000,
        label: `kernel ${kernel.name}`,
        lost: died.signal,
        agentSocket: grant.agentSocket,
      });
      const vm = new LeasedVm({ kernel, guest, grant, socket, messages, died });
      vm.#watchBroker();
      return vm;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** Death notices come from the broker, which watches the console; a broker gone is a VM gone. */
  #watchBroker(): void {
    void (async () => {
      while (!this.#released) {
        const next = await this.#messages.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done) {
          if (!this.#released) this.#abort(new VmDiedError(this.kernel.name, 'the run\'s VM broker went away', '', this.consoleLogPath));
          return;
        }
        if (next.value.type === 'died') {
          this.#abort(Object.assign(new VmDiedError(this.kernel.name, next.value.reason, next.value.kernelLines, this.consoleLogPath), { message: next.value.message }));
        }
        if (next.value.type === 'released') this.#onReleased?.(next.value);
      }
    })();
  }

  #onReleased?: (released: Released) => void;

  #abort(error: VmDiedError): void {
    if (!this.#died.signal.aborted) this.#died.abort(error);
  }

  get lost(): AbortSignal {
    return this.#died.signal;
  }

  assertAlive(): void {
    if (this.#died.signal.aborted) throw this.#died.signal.reason;
  }

  watchCase(name: string): Promise<CaseWatch> {
    this.assertAlive();
    return CaseWatch.begin(this, name);
  }

  /**
   * Hands the VM back and waits for the broker's verdict. Throws
   * {@link VmLeftBrokenError} when the VM could not serve another file:
   * the kernel died or reported a problem during this file, the guest
   * stopped answering, or what the file left could not be removed.
   */
  async release(): Promise<Released> {
    this.#released ??= (async () => {
      this.guest.close();
      const verdict = new Promise<Released>((resolve) => (this.#onReleased = resolve));
      const hungUp = () => new Error(`kernel ${this.kernel.name}: the VM broker hung up before saying how the VM was after this file`);
      const ended = new Promise<never>((_, reject) => {
        if (this.#socket.destroyed) reject(hungUp());
        else this.#socket.once('close', () => reject(hungUp()));
      });
      this.#socket.write(`${JSON.stringify({ type: 'release' })}\n`);
      try {
        return await withTimeout(Promise.race([verdict, ended]), RELEASE_TIMEOUT_MS, `kernel ${this.kernel.name}: no word on the VM within ${RELEASE_TIMEOUT_MS / 1000} s of this file's end`);
      } finally {
        this.#socket.destroy();
      }
    })();
    const released = await this.#released;
    if (released.broken) {
      throw new VmLeftBrokenError(
        `kernel ${this.kernel.name}: after this file the VM (${this.vmId}) could not serve another one: ${released.broken}\n` +
          `(it was stopped; the next file of this kernel gets a fresh VM; console log: ${this.consoleLogPath})`,
      );
    }
    return released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** The broker's messages on `socket`, checked, one per line. */
async function* brokerMessages(socket: Socket): AsyncGenerator<BrokerMessage> {
  for await (const line of createInterface({ input: socket })) {
    yield BrokerMessage.parse(JSON.parse(line));
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
