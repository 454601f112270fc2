import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import type { KernelImage } from '../kernels/unpack.ts';
import { Guest } from '../guest/guest.ts';
import { toolEnv } from '../util/toolchain.ts';
import { chooseAccel, type Accel, type AccelSetting } from './accel.ts';
import { ConsoleWatch } from './console-watch.ts';
import { FileTail } from './file-tail.ts';
import { settlesWithin, sleep } from '../util/time.ts';
import { GUEST_SCRIPT, UP_MARKER } from './guest-script.ts';
import { forget, groupAlive, killGroup, sweepStaleTempDirs, track, type VmEntry, type VngProcess } from './reaper.ts';
import { freePort } from './free-port.ts';
import { ensureSshIdentity } from './ssh-identity.ts';

export interface VmOptions {
  accel?: AccelSetting;
  memoryMiB?: number;
  cpus?: number;
  /** Milliseconds from start until SSH must answer. */
  bootTimeoutMs?: number;
  /** Where the console log goes; a file per VM. */
  consoleLogPath: string;
  cacheRoot: string;
  signal?: AbortSignal;
}

const CONSOLE_TAIL_LINES = 60;

/** A boot that failed: carries the console's last lines. */
export class VmBootError extends Error {
  readonly consoleTail: string;
  readonly consoleLogPath: string;
  constructor(kernel: string, reason: string, consoleTail: string, consoleLogPath: string) {
    super(`${kernel}: VM failed: ${reason}\n--- last ${CONSOLE_TAIL_LINES} console lines (${consoleLogPath}) ---\n${consoleTail}`);
    this.consoleTail = consoleTail;
    this.consoleLogPath = consoleLogPath;
  }
}

/**
 * One booted kernel: `vng --run vmlinuz` with the guest's sshd reachable on a
 * loopback port. Dispose it (`await using`) and it powers off, then its whole
 * process group (vng, QEMU, virtiofsd) is killed if it lingers, then its temp
 * dir is removed: always, also on errors and Ctrl-C.
 */
export class Vm implements AsyncDisposable {
  readonly kernel: KernelImage;
  readonly accel: Accel;
  readonly guest: Guest;
  readonly consoleLogPath: string;
  /** Milliseconds from start to SSH ready. */
  readonly bootMs: number;
  #process: VngProcess;
  #tmp: { path: string; cleanup(): Promise<void> };
  #stdinWriter: FileHandle;
  #consoleTail: FileTail;
  #entry: VmEntry;
  #stopped?: Promise<void>;

  private constructor(parts: {
    kernel: KernelImage; accel: Accel; guest: Guest; consoleLogPath: string; bootMs: number;
    process: VngProcess; tmp: { path: string; cleanup(): Promise<void> }; stdinWriter: FileHandle; consoleTail: FileTail; entry: VmEntry;
  }) {
    this.kernel = parts.kernel;
    this.accel = parts.accel;
    this.guest = parts.guest;
    this.consoleLogPath = parts.consoleLogPath;
    this.bootMs = parts.bootMs;
    this.#process = parts.process;
    this.#tmp = parts.tmp;
    this.#stdinWriter = parts.stdinWriter;
    this.#consoleTail = parts.consoleTail;
    this.#entry = parts.entry;
  }

  static async start(kernel: KernelImage, options: VmOptions): Promise<Vm> {
    const accel = await chooseAccel(options.accel ?? 'auto', kernel.vmlinuz, options.cacheRoot);
    const identity = await ensureSshIdentity(options.cacheRoot);
    // The SSH port was free when picked, but another run may take it before
    // QEMU binds it; then QEMU exits at once, and a new port is worth a try.
    for (let attempt = 1; ; attempt++) {
      try {
        return await Vm.#boot(kernel, options, accel, identity, await freePort());
      } catch (err) {
        const portTaken = err instanceof VmBootError && /host forwarding rule|Address already in use/.test(err.consoleTail);
        if (!portTaken || attempt >= 3) throw err;
      }
    }
  }

  static async #boot(
    kernel: KernelImage,
    options: VmOptions,
    accel: Accel,
    identity: { home: string; privateKeyPath: string },
    port: number,
  ): Promise<Vm> {
    const started = Date.now();
    const deadline = started + (options.bootTimeoutMs ?? 240_000);
    sweepStaleTempDirs(tmpdir(), await readdir(tmpdir()).catch(() => []));
    const tmp = await tmpDir({ prefix: `kmatrix-vm-${kernel.name}-`, unsafeCleanup: true });
    // Known to the exit handler from now on, so the dir goes even if we are
    // killed before vng runs (pid 0: nothing to kill yet).
    const entry = { pid: 0, tmp: tmp.path };
    track(entry);
    await mkdir(join(options.consoleLogPath, '..'), { recursive: true });
    await writeFile(options.consoleLogPath, '');
    // vng only wires the guest's script I/O to the host when its stdio can be
    // reopened through /proc/self/fd, which Node's socketpairs cannot: so it
    // gets plain fds. Console and guest output go to the log file itself;
    // stdin is a FIFO that we hold open, and closing it is the guest's cue to
    // power off.
    const fifo = join(tmp.path, 'stdin.fifo');
    await execa('mkfifo', [fifo]);
    const stdinWriter = await open(fifo, constants.O_RDWR); // O_RDWR: does not wait for a reader
    const childStdin = openSync(fifo, 'r');
    const guestStdoutPath = options.consoleLogPath.replace(/(\.log)?$/, '.stdout.log');
    await writeFile(guestStdoutPath, '');
    const childStdout = openSync(guestStdoutPath, 'a');
    const childStderr = openSync(options.consoleLogPath, 'a');

    const args = [
      '--run', kernel.vmlinuz,
      '--verbose', // the boot console goes to stderr, which we keep
      '--ssh', String(port), '--ssh-tcp',
      '--memory', `${options.memoryMiB ?? 1024}M`,
      '--cpus', String(options.cpus ?? 2),
      ...(accel === 'tcg' ? ['--disable-kvm'] : []),
      '--exec', GUEST_SCRIPT,
    ];
    // Plain spawn rather than execa: vng needs these exact fds, and
    // `detached` makes it the leader of a process group that QEMU and
    // virtiofsd join, so one kill(-pgid) reaches them all.
    const child = spawn('vng', args, {
      env: { ...toolEnv(), HOME: identity.home, TMPDIR: tmp.path },
      cwd: tmp.path,
      stdio: [childStdin, childStdout, childStderr],
      detached: true,
    });
    const vng: VngProcess = {
      pid: child.pid!,
      exited: new Promise((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'))),
    };
    child.once('error', () => {}); // surfaces as an early exit below
    closeSync(childStdin);
    closeSync(childStdout);
    closeSync(childStderr);
    entry.pid = vng.pid!;

    const watch = new ConsoleWatch();
    const consoleTail = new FileTail(options.consoleLogPath);
    const stdoutTail = new FileTail(guestStdoutPath);
    const tail: string[] = [];
    let fatal: string | undefined;
    let up = false;
    const readConsole = async () => {
      for (const line of await consoleTail.read()) {
        tail.push(line);
        if (tail.length > CONSOLE_TAIL_LINES) tail.shift();
        const verdict = watch.line(line);
        if (verdict.fatal && !fatal) fatal = verdict.reason;
      }
      if (!up) up = (await stdoutTail.read()).includes(UP_MARKER);
    };
    let exited = false;
    void vng.exited.then(() => (exited = true));

    const fail = async (reason: string): Promise<never> => {
      await killGroup(vng, entry);
      await readConsole().catch(() => {});
      await consoleTail.close();
      await stdoutTail.close();
      await stdinWriter.close();
      await tmp.cleanup();
      throw new VmBootError(kernel.name, reason, tail.join('\n'), options.consoleLogPath);
    };

    // Wait for the guest's userspace, watching for a dead kernel or QEMU.
    while (!up) {
      await readConsole();
      if (fatal) return fail(fatal);
      if (exited) return fail(`vng exited (${await vng.exited}) before the guest came up`);
      if (Date.now() > deadline) return fail(`no guest userspace within ${Math.round((deadline - started) / 1000)} s (boot deadline)`);
      if (options.signal?.aborted) return fail('aborted');
      await sleep(100);
    }
    let guest: Guest;
    try {
      guest = await Promise.race([
        Guest.connect({ port, privateKeyPath: identity.privateKeyPath, deadline, signal: options.signal }),
        (async () => {
          while (!fatal && !exited) {
            await sleep(200);
            await readConsole();
          }
          throw new Error(fatal ?? 'vng exited while waiting for SSH');
        })(),
      ]);
    } catch (err) {
      return fail(`SSH did not come up: ${(err as Error).message}`);
    }
    watch.booted();
    await stdoutTail.close();
    return new Vm({
      kernel, accel, guest, consoleLogPath: options.consoleLogPath, bootMs: Date.now() - started,
      process: vng, tmp, stdinWriter, consoleTail, entry,
    });
  }

  /** The console log so far, for attaching to a failure. */
  async consoleText(): Promise<string> {
    return readFile(this.consoleLogPath, 'utf8').catch(() => '');
  }

  /** Power off cleanly; kill what lingers; remove temp files. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.guest.close();
      await this.#stdinWriter.close(); // the guest's `cat` sees EOF, its init powers off
      const poweredOff = await settlesWithin(this.#process.exited, 20_000);
      if (!poweredOff || groupAlive(this.#entry.pid)) await killGroup(this.#process, this.#entry);
      else forget(this.#entry);
      await this.#consoleTail.close();
      await this.#tmp.cleanup();
    })();
    return this.#stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
