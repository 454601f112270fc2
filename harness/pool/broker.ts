import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dir as tmpDir } from 'tmp-promise';
import { describeSplats } from '../vm/kernel-log.ts';
import type { Vm, VmDiedError } from '../vm/vm.ts';
import { BrokerMessage, WorkerMessage, type Released } from './messages.ts';
import { cleanupScript, describeLeftovers, leftovers, snapshotGuest, type GuestState } from './guest-state.ts';
import { forget, track, type VmEntry } from '../vm/reaper.ts';

/** Boots one VM of a kernel; `label` names its console log. */
export type BootVm = (kernel: string, label: string) => Promise<Vm>;

export interface BrokerOptions {
  /** At most this many files at once, each on a VM, over all kernels (the host's cores and memory). */
  capacity: number;
  /**
   * At most this many VMs up at once (the host's memory), busy or idle
   * between files of their kernel; at least `capacity`, which it defaults to.
   */
  room?: number;
  boot: BootVm;
  /** Guest path of kmatrix-loader, whose `--census` lists the kernel's BPF programs and maps. */
  loader: () => string;
  /** Put before every VM's id (`retry-6.1#1`), and so before its console log's name: the retry pass's VMs are told apart. */
  idPrefix?: string;
}

/** One boot, for the report. */
export interface BootRecord {
  kernel: string;
  vmId: string;
  bootMs: number;
  /** What the guest found missing at boot (see Vm.notes). */
  notes: string[];
  why: 'first' | 'pool' | 'replacement' | 'own' | 'after eviction';
}

/** One file's time on a VM, for the report. */
export interface LeaseRecord {
  kernel: string;
  vmId: string;
  file: string;
  waitMs: number;
  resetMs: number;
  /** The VM's console log. */
  console?: string;
  broken?: string;
  /** What the reset removed after the file. */
  cleaned?: string;
}

type EntryState = 'booting' | 'idle' | 'leased' | 'resetting';

interface PoolEntry {
  id: string;
  kernel: string;
  own: boolean;
  state: EntryState;
  vm?: Vm;
  baseline?: GuestState;
  files: number;
  /** The lease it serves, while leased. */
  lease?: Lease;
}

interface Lease {
  socket: Socket;
  kernel: string;
  file: string;
  own: boolean;
  askedAt: number;
  /** From the request to the grant. */
  waitMs: number;
  entry?: PoolEntry;
  splatMark?: number;
  done: boolean;
}

/**
 * The run's VMs, shared by the test files: one VM per kernel (more when the
 * host has room for more VMs than there are kernels), each serving one file
 * at a time and reset to the state it booted in between files. Workers
 * lease a VM over a Unix socket (see messages.ts); a VM that a file left
 * broken (the kernel died or splatted, the guest stopped answering, or what
 * the file left could not be removed) is stopped, the file is told why, and
 * the next file of that kernel gets a fresh one.
 *
 * Lives in vitest's main process (started by the global set-up), so a VM
 * outlives the worker of any one file.
 */
export class VmBroker implements AsyncDisposable {
  readonly socketPath: string;
  readonly boots: BootRecord[] = [];
  readonly leases: LeaseRecord[] = [];
  readonly #options: BrokerOptions;
  readonly #server: Server;
  /** The socket's temp dir, known to the reaper (pid 0: nothing to kill). */
  readonly #dir: VmEntry;
  readonly #entries = new Set<PoolEntry>();
  readonly #pending: Lease[] = [];
  /** Files of each kernel still to come: counted down from the sequencer's plan, from 1 for a kernel it did not announce. */
  readonly #remaining = new Map<string, number>();
  /** Kernels whose files the sequencer announced, and so whose remaining count is to be trusted. */
  readonly #planned = new Set<string>();
  readonly #bootedKernels = new Set<string>();
  /** Kernels whose VM was stopped to make room while they still had files. */
  readonly #evicted = new Set<string>();
  readonly #sockets = new Set<Socket>();
  #nextId = 1;
  #closing?: Promise<void>;

  private constructor(options: BrokerOptions, server: Server, dir: VmEntry, socketPath: string) {
    this.#options = options;
    this.#server = server;
    this.#dir = dir;
    this.socketPath = socketPath;
  }

  static async start(options: BrokerOptions): Promise<VmBroker> {
    const dir = await tmpDir({ prefix: 'kmatrix-broker-' });
    // Removed on exit also when the run is interrupted (the VMs' own reaper).
    const entry: VmEntry = { pid: 0, tmp: dir.path };
    track(entry);
    const socketPath = join(dir.path, 'broker.sock');
    const server = createServer();
    const broker = new VmBroker(options, server, entry, socketPath);
    server.on('connection', (socket) => broker.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    server.unref(); // the run ends when the tests do; close() stops the VMs
    return broker;
  }

  /** The sequencer's plan: how many files of `kernel` will ask for a VM. */
  expectFiles(kernel: string, count: number): void {
    this.#remaining.set(kernel, count);
    this.#planned.add(kernel);
  }

  /**
   * VMs per kernel: one, or more when the host has room for more VMs than
   * the run has kernels (one kernel on a 4-core host gets 4). Fixed by the
   * plan, so that the last kernel standing does not boot more.
   */
  get #perKernel(): number {
    const kernels = Math.max(1, this.#remaining.size || new Set([...this.#entries].map((e) => e.kernel)).size);
    return Math.max(1, Math.floor(this.#options.capacity / kernels));
  }

  get #room(): number {
    return Math.max(this.#options.capacity, this.#options.room ?? 0);
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    let lease: Lease | undefined;
    socket.on('error', () => {}); // a worker that died: handled by 'close'
    const lines = createInterface({ input: socket });
    lines.on('line', (line) => {
      let message: WorkerMessage;
      try {
        message = WorkerMessage.parse(JSON.parse(line));
      } catch (err) {
        socket.destroy(new Error(`broker: malformed message ${JSON.stringify(line.slice(0, 200))}: ${(err as Error).message}`));
        return;
      }
      if (message.type === 'lease' && !lease) {
        lease = { socket, kernel: message.kernel, file: message.file, own: message.own, askedAt: Date.now(), waitMs: 0, done: false };
        this.#pending.push(lease);
        this.#dispatch();
      } else if (message.type === 'release' && lease) {
        void this.#release(lease);
      }
    });
    socket.on('close', () => {
      if (!lease) return;
      const waiting = this.#pending.indexOf(lease);
      if (waiting >= 0) this.#pending.splice(waiting, 1);
      // A worker gone without a release: take the VM back all the same.
      if (!lease.done && lease.entry) void this.#release(lease);
    });
  }

  #send(lease: Lease, message: BrokerMessage): void {
    if (!lease.socket.destroyed) lease.socket.write(`${JSON.stringify(BrokerMessage.parse(message))}\n`);
  }

  #live(kernel?: string, own?: boolean): PoolEntry[] {
    return [...this.#entries].filter((e) => (kernel === undefined || e.kernel === kernel) && (own === undefined || e.own === own));
  }

  /** Hands idle VMs to waiting leases, boots where there is room, evicts where there is not. */
  #dispatch(): void {
    if (this.#closing) return;
    for (const lease of [...this.#pending]) {
      if (!lease.own) {
        const idle = this.#live(lease.kernel, false).find((e) => e.state === 'idle');
        if (idle) {
          this.#grant(lease, idle);
          continue;
        }
        if (this.#live(lease.kernel, false).length >= this.#perKernel) continue; // its VM comes back after the file on it
      }
      if (this.#entries.size >= this.#room && !this.#evictFor(lease)) continue;
      this.#pending.splice(this.#pending.indexOf(lease), 1);
      void this.#bootFor(lease);
    }
  }

  /** Stops an idle VM of another kernel to make room: one whose kernel has no files left, else any. */
  #evictFor(lease: Lease): boolean {
    const idle = [...this.#entries].filter((e) => e.state === 'idle' && (e.kernel !== lease.kernel || lease.own));
    const victim = idle.find((e) => (this.#remaining.get(e.kernel) ?? 1) <= 0) ?? idle[0];
    if (!victim) return false;
    if ((this.#remaining.get(victim.kernel) ?? 1) > 0) this.#evicted.add(victim.kernel);
    this.#entries.delete(victim);
    void victim.vm!.stop();
    return true;
  }

  async #bootFor(lease: Lease): Promise<void> {
    const entry: PoolEntry = { id: `${this.#options.idPrefix ?? ''}${lease.kernel}#${this.#nextId++}`, kernel: lease.kernel, own: lease.own, state: 'booting', files: 0 };
    this.#entries.add(entry);
    const why: BootRecord['why'] = lease.own
      ? 'own'
      : !this.#bootedKernels.has(lease.kernel)
        ? 'first'
        : this.#live(lease.kernel, false).length > 1
          ? 'pool'
          : this.#evicted.delete(lease.kernel)
            ? 'after eviction'
            : 'replacement';
    this.#bootedKernels.add(lease.kernel);
    try {
      const vm = await this.#options.boot(lease.kernel, `${entry.id.replace('#', '-vm')}`);
      entry.vm = vm;
      entry.baseline = await snapshotGuest(vm.guest, this.#options.loader()).catch(async (err: Error) => {
        await vm.stop();
        throw new Error(`kernel ${lease.kernel}: the freshly booted VM could not be listed: ${err.message}`);
      });
      this.boots.push({ kernel: lease.kernel, vmId: entry.id, bootMs: vm.bootMs, notes: vm.notes, why });
      if (why === 'first') for (const note of vm.notes) console.warn(`kernel ${lease.kernel}: ${note}`);
      // A VM that dies while idle is simply dropped.
      vm.lost.addEventListener('abort', () => {
        if (entry.state === 'idle') this.#entries.delete(entry);
      });
    } catch (err) {
      this.#entries.delete(entry);
      this.#send(lease, { type: 'refused', message: (err as Error).message });
      lease.done = true;
      this.#dispatch();
      return;
    }
    if (this.#closing) {
      this.#entries.delete(entry);
      await entry.vm.stop();
      return;
    }
    if (lease.socket.destroyed) {
      entry.state = 'idle';
      this.#dispatch();
      return;
    }
    this.#grant(lease, entry);
  }

  #grant(lease: Lease, entry: PoolEntry): void {
    const index = this.#pending.indexOf(lease);
    if (index >= 0) this.#pending.splice(index, 1);
    const vm = entry.vm!;
    entry.state = 'leased';
    entry.lease = lease;
    lease.entry = entry;
    lease.splatMark = vm.splatMark();
    this.#remaining.set(lease.kernel, (this.#remaining.get(lease.kernel) ?? 1) - 1);
    this.#send(lease, {
      type: 'granted', vmId: entry.id, port: vm.ssh.port, privateKeyPath: vm.ssh.privateKeyPath, agentSocket: vm.ssh.agentSocket,
      consoleLogPath: vm.consoleLogPath, bootMs: vm.bootMs, filesBefore: entry.files,
    });
    const onDeath = () => {
      const death = vm.lost.reason as VmDiedError;
      if (entry.lease === lease) this.#send(lease, { type: 'died', reason: death.reason, kernelLines: death.kernelLines, message: death.message });
    };
    if (vm.lost.aborted) onDeath();
    else vm.lost.addEventListener('abort', onDeath, { once: true });
    entry.files++;
    lease.waitMs = Date.now() - lease.askedAt;
  }

  /** After a file: is the VM still fit, and can it be put back the way it booted? */
  async #release(lease: Lease): Promise<void> {
    if (lease.done) return;
    lease.done = true;
    const entry = lease.entry!;
    entry.state = 'resetting';
    entry.lease = undefined;
    const started = Date.now();
    const verdict = await this.#inspect(entry, lease).catch((err: Error): Omit<Released, 'type' | 'resetMs'> => ({
      broken: `the VM did not answer after the file: ${err.message}`,
    }));
    const resetMs = Date.now() - started;
    this.leases.push({ kernel: lease.kernel, vmId: entry.id, file: lease.file, waitMs: lease.waitMs, resetMs, console: entry.vm!.consoleLogPath, broken: verdict.broken, cleaned: verdict.cleaned });
    // A kernel whose files are all done has no more use for its VM, which
    // would cost a few percent of a core while it idled to the end of the run.
    const done = this.#planned.has(entry.kernel) && (this.#remaining.get(entry.kernel) ?? 1) <= 0 && !this.#pending.some((l) => l.kernel === entry.kernel);
    if (verdict.broken || entry.own || this.#closing || done) {
      this.#entries.delete(entry);
      await entry.vm!.stop();
    } else {
      entry.state = 'idle';
    }
    this.#send(lease, { type: 'released', resetMs, ...verdict });
    lease.socket.end();
    this.#dispatch();
  }

  async #inspect(entry: PoolEntry, lease: Lease): Promise<Omit<Released, 'type' | 'resetMs'>> {
    const vm = entry.vm!;
    if (entry.own) return {}; // stopped after its one file, whatever its state
    if (vm.lost.aborted) return { broken: `the VM died during the file (${(vm.lost.reason as VmDiedError).reason})` };
    // A kernel that reported a problem is not one whose results we trust for
    // the next file, even if the case that saw it failed already.
    const splats = await vm.splatsSince(lease.splatMark ?? 0);
    if (splats.length) return { broken: `the kernel reported ${[...new Set(splats.map((s) => s.kind))].join(', ')} during the file:\n${describeSplats(splats)}` };
    const loader = this.#options.loader();
    const extra = leftovers(entry.baseline!, await snapshotGuest(vm.guest, loader));
    if (!Object.keys(extra).length) return {};
    const still = leftovers(entry.baseline!, await snapshotGuest(vm.guest, loader, cleanupScript(extra, entry.baseline!.links)));
    if (Object.keys(still).length) return { broken: `the file left what could not be removed: ${describeLeftovers(still)}` };
    return { cleaned: describeLeftovers(extra) };
  }

  /** Stops every VM and the socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const lease of this.#pending) this.#send(lease, { type: 'refused', message: 'the run is ending' });
      this.#pending.length = 0;
      await Promise.all([...this.#entries].map((e) => e.vm?.stop()));
      this.#entries.clear();
      for (const socket of this.#sockets) socket.destroy();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await rm(this.#dir.tmp, { recursive: true, force: true });
      forget(this.#dir);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

