import { FileTail } from './file-tail.ts';
import { SplatCollector, isFatal, type Splat } from './kernel-log.ts';

const RECENT_LINES = 60;

/**
 * Watches a guest's serial console for its whole life: while it boots and
 * while cases run. The console is the one channel that still speaks when the
 * kernel dies (SSH does not), so it is where a panic, an oops, a stall or a
 * lockup is seen. Every splat is kept; a fatal one is handed to `onFatal`
 * at once. While booting every splat is fatal: a boot that WARNs is not one
 * whose results we trust.
 */
export class KernelWatch {
  readonly #tail: FileTail;
  readonly #collector = new SplatCollector();
  readonly #recent: string[] = [];
  readonly #onFatal: (splat: Splat) => void;
  #booting = true;
  #fatal?: Splat;
  #timer?: NodeJS.Timeout;
  #polling?: Promise<void>;

  constructor(consoleLogPath: string, onFatal: (splat: Splat) => void) {
    this.#tail = new FileTail(consoleLogPath);
    this.#onFatal = onFatal;
  }

  /** Reads what the console printed since the last call. */
  poll(): Promise<void> {
    // One read at a time: the background timer and a caller may overlap.
    this.#polling ??= this.#read().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #read(): Promise<void> {
    for (const line of await this.#tail.read()) {
      this.#recent.push(line);
      if (this.#recent.length > RECENT_LINES) this.#recent.shift();
      const started = this.#collector.push(line);
      if (!started || this.#fatal) continue;
      const earlier = this.#collector.splats.filter((s) => s.kind === started.kind).length - 1;
      if (this.#booting || isFatal(started.kind, earlier)) {
        this.#fatal = started;
        this.#onFatal(started);
      }
    }
  }

  /** From now on only fatal kinds end the VM; the rest fail the case they happen in. */
  booted(): void {
    this.#booting = false;
  }

  /** Polls in the background until {@link stop}. */
  start(intervalMs = 200): void {
    const tick = () => {
      void this.poll()
        .catch(() => {}) // the log file went away: the VM is being torn down
        .finally(() => {
          if (this.#timer) this.#timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.#timer = setTimeout(tick, intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling?.catch(() => {});
    await this.#tail.close();
  }

  get fatal(): Splat | undefined {
    return this.#fatal;
  }

  /** A position in the list of splats, to ask later what came after it. */
  mark(): number {
    return this.#collector.splats.length;
  }

  splatsSince(mark: number): Splat[] {
    return this.#collector.splats.slice(mark);
  }

  /** The console's last lines. */
  recent(): string {
    return this.#recent.join('\n');
  }
}
