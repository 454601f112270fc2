import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import type { KernelImage } from '../kernels/unpack.ts';
import { Guest } from '../guest/guest.ts';
import { toolEnv } from '../util/toolchain.ts';
import { packageRoot } from '../util/paths.ts';
import { chooseAccel, type Accel, type AccelSetting } from './accel.ts';
import { FileTail } from './file-tail.ts';
import { KernelWatch } from './kernel-watch.ts';
import { describeSplats, type Splat, type SplatKind } from './kernel-log.ts';
import type { VmHandle } from './vm-handle.ts';
import { CaseWatch } from './case-watch.ts';
import { settlesWithin, sleep } from '../util/time.ts';
import { AGENT_SOCKET, FAILED_MARKER, GUEST_DIRS, installGuestScript, NOTE_MARKER, UP_MARKER } from './guest-script.ts';
import { forget, groupAlive, killGroup, sweepStaleTempDirs, track, type VmEntry, type VngProcess } from './reaper.ts';
import { freePort } from './free-port.ts';
import { ensureSshIdentity, type SshIdentity } from './ssh-identity.ts';
import { kernelBootOptions, NIC_PROPERTIES } from './boot-options.ts';

export interface VmOptions {
  accel?: AccelSetting;
  memoryMiB?: number;
  cpus?: number;
  /**
   * Under software emulation: one host thread per vCPU (QEMU's default,
   * multi-threaded TCG), or one for the whole VM. One is faster when the
   * run's VMs together have more vCPUs than the host has cores (see
   * harness/pool/run-pool.ts); ignored under KVM.
   */
  tcgThreads?: 'multi' | 'single';
  /** Milliseconds from start until SSH must answer. */
  bootTimeoutMs?: number;
  /** Where the console log goes; a file per VM. */
  consoleLogPath: string;
  cacheRoot: string;
  signal?: AbortSignal;
  /** Guest path of kmatrix-agent: the guest starts it at boot, and commands run through it (see Guest.connect). */
  agent?: string;
  /**
   * Guest path of kmatrix-fastboot, which virtme-ng's init then runs in place
   * of systemd-tmpfiles and which spares it udev (userspace-rs/src/bin/kmatrix-fastboot.rs);
   * without it the boot takes the shell stand-ins alone (harness/vm/fastboot).
   */
  fastboot?: string;
}

const CONSOLE_TAIL_LINES = 60;
/** Stand-ins for what virtme-ng's init runs at boot and the harness does not need; the guest sees the host's files. */
const FASTBOOT_DIR = join(packageRoot, 'harness', 'vm', 'fastboot');

/** `<vm dir>/fastboot/{systemd-tmpfiles,ip}` -> kmatrix-fastboot; returns the directory. */
async function fastbootDir(vmDir: string, fastboot: string): Promise<string> {
  const dir = join(vmDir, 'fastboot');
  await mkdir(dir);
  for (const name of ['systemd-tmpfiles', 'ip']) await symlink(fastboot, join(dir, name));
  return dir;
}

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

/** The VM died after booting: the kernel broke, or QEMU went away. Carries what the kernel said last. */
export class VmDiedError extends Error {
  readonly reason: string;
  readonly kernelLines: string;
  constructor(kernel: string, reason: string, kernelLines: string, consoleLogPath: string) {
    super(`kernel ${kernel}: the VM died: ${reason}\n--- what the kernel said ---\n${kernelLines}\n(console log: ${consoleLogPath})`);
    this.reason = reason;
    this.kernelLines = kernelLines;
  }
}

const DEATH_REASON: Record<SplatKind, string> = {
  'panic': 'kernel panic',
  'oops': 'kernel oops',
  'rcu-stall': 'RCU stall',
  'hard-lockup': 'hard lockup',
  'soft-lockup': 'soft lockup (reported twice)',
  'kasan': 'KASAN report',
  'ubsan': 'UBSAN report',
  'hung-task': 'hung task',
  'warning': 'kernel WARN',
  'bug': 'kernel BUG',
};

/**
 * One booted kernel: `vng --run vmlinuz` with the guest's sshd reachable on a
 * loopback port, its console watched from QEMU's start to its end. Dispose
 * it (`await using`) and it powers off, then its whole process group (vng,
 * QEMU, virtiofsd) is killed if it lingers, then its temp dir is removed:
 * always, also on errors and Ctrl-C.
 *
 * vng runs the guest in script mode, which boots with `panic=-1` and QEMU
 * with `-no-reboot`: a panicking kernel ends QEMU at once. A fatal splat on
 * the console, or QEMU exiting, makes the VM dead: `lost` aborts with a
 * {@link VmDiedError}, and every guest call in flight rejects with it.
 */
/** How the harness reaches a booted guest. */
export interface GuestAccess {
  port: number;
  privateKeyPath: string;
  /** The guest path of kmatrix-agent's socket, when the guest runs one. */
  agentSocket?: string;
}

export class Vm implements VmHandle, AsyncDisposable {
  readonly kernel: KernelImage;
  /** Where the guest's sshd answers (loopback), and the key it takes: what a leaseholder connects with. */
  /** How to reach the guest: its forwarded SSH port, the key, and the agent's socket in the guest (if it runs one). */
  readonly ssh: GuestAccess;
  readonly accel: Accel;
  readonly guest: Guest;
  readonly consoleLogPath: string;
  /** Milliseconds from start to SSH ready. */
  readonly bootMs: number;
  /** What the guest found missing at boot that some programs need (no BTF, say). */
  readonly notes: string[];
  #process: VngProcess;
  #tmp: { path: string; cleanup(): Promise<void> };
  #stdinWriter: FileHandle;
  #watch: KernelWatch;
  #died: AbortController;
  #entry: VmEntry;
  #stopped?: Promise<void>;

  private constructor(parts: {
    kernel: KernelImage; ssh: GuestAccess; accel: Accel; guest: Guest; consoleLogPath: string; bootMs: number; notes: string[]; died: AbortController;
    process: VngProcess; tmp: { path: string; cleanup(): Promise<void> }; stdinWriter: FileHandle; watch: KernelWatch; entry: VmEntry;
  }) {
    this.kernel = parts.kernel;
    this.ssh = parts.ssh;
    this.accel = parts.accel;
    this.guest = parts.guest;
    this.consoleLogPath = parts.consoleLogPath;
    this.bootMs = parts.bootMs;
    this.notes = parts.notes;
    this.#process = parts.process;
    this.#tmp = parts.tmp;
    this.#stdinWriter = parts.stdinWriter;
    this.#watch = parts.watch;
    this.#died = parts.died;
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
    identity: SshIdentity,
    port: number,
  ): Promise<Vm> {
    const started = Date.now();
    const deadline = started + (options.bootTimeoutMs ?? 240_000);
    sweepStaleTempDirs(tmpdir(), await readdir(tmpdir()).catch(() => []));
    const { path: tmpPath } = await tmpDir({ prefix: `kmatrix-vm-${kernel.name}-` });
    // vng puts virtiofsd's sockets in it (`virtme` + 8 characters), and a socket path has 108 bytes at most.
    if (tmpPath.length > 90) {
      await rm(tmpPath, { recursive: true, force: true });
      throw new Error(`kernel ${kernel.name}: the VM's temp dir ${tmpPath} is too long for virtiofsd's sockets below it (a socket path has 108 bytes at most): set TMPDIR to a shorter directory, or give the kernel a shorter name`);
    }
    // Removed by whoever comes last: this process, or vng's shell (below).
    const tmp = { path: tmpPath, cleanup: () => rm(tmpPath, { recursive: true, force: true }) };
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

    const agentSocket = options.agent ? AGENT_SOCKET : undefined;
    // The init finds systemd-tmpfiles and ip through its PATH: a directory
    // of this VM's holds kmatrix-fastboot under those names, ahead of the stand-ins.
    const fastbootPath = options.fastboot ? [await fastbootDir(tmp.path, options.fastboot)] : [];
    const singleThreadTcg = accel === 'tcg' && options.tcgThreads === 'single';
    const args = [
      '--run', kernel.vmlinuz,
      '--verbose', // the kernel console goes to stderr, which we keep and watch
      // The guest's sshd is the harness's own (see guest-script.ts); QEMU
      // forwards a loopback port to it. The NIC has no option ROM (see boot-options.ts).
      // (`=`: the value starts with a dash, which argparse takes for an option.)
      // vng names no accelerator without KVM, so this one is QEMU's only.
      `--qemu-opts=-device virtio-net-pci,netdev=kmatrix${NIC_PROPERTIES} -netdev user,id=kmatrix,hostfwd=tcp:127.0.0.1:${port}-:22${singleThreadTcg ? ' -accel tcg,thread=single' : ''}`,
      '--memory', `${options.memoryMiB ?? 1024}M`,
      // The console prints warnings and worse (a panic, an oops, a stall, a
      // WARN, the harness's case markers): what the console watch needs. The
      // boot's info lines, 400 of them, cost 0.1 s of emulated UART under
      // TCG; dmesg, which case watches read, still holds every level.
      // (After vng's own loglevel=7, which the last one overrides.)
      '--append', 'loglevel=5',
      // What the kernel itself can skip at boot (see boot-options.ts).
      ...kernelBootOptions.flatMap((option) => ['--append', option]),
      '--cpus', String(options.cpus ?? 2),
      ...(accel === 'tcg' ? ['--disable-kvm'] : []),
      // virtme-ng's init runs udev's coldplug and settle and systemd-tmpfiles
      // by name: stand-ins first in its PATH cut 9 s of a TCG boot (see
      // harness/vm/fastboot), and kmatrix-fastboot another half second.
      // Kernel parameters it does not know become the init's environment.
      '--append', `PATH=${[...fastbootPath, FASTBOOT_DIR].join(':')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      // What kmatrix-fastboot makes for the guest script's services, which then start no mkdir.
      ...(options.fastboot ? ['--append', `KMATRIX_FASTBOOT_DIRS=${GUEST_DIRS.join(':')}`] : []),
      // An empty root password in the guest's view of /etc/shadow: the host's
      // is locked, and sshd without PAM turns a locked account away even
      // with the right key. (Password logins stay off in its config.)
      '--empty-passwords',
      // Script mode: vng adds panic=-1 and -no-reboot, so a panic ends QEMU.
      '--exec', await installGuestScript(identity, options.agent),
    ];
    // Plain spawn rather than execa: vng needs these exact fds, and
    // `detached` makes its shell the leader of a process group that vng,
    // QEMU and virtiofsd join, so one kill(-pgid) reaches them all. The
    // shell removes the VM's temp dir once vng is gone: should this process
    // die without running its exit handler (a worker killed outright on
    // Ctrl-C), the guest still powers off (its stdin FIFO loses its writer)
    // and nothing is left in /tmp.
    const child = spawn('sh', ['-c', 'vng "$@"; status=$?; rm -rf "$KMATRIX_VM_DIR"; exit $status', 'kmatrix-vm', ...args], {
      env: { ...toolEnv(), HOME: identity.home, TMPDIR: tmp.path, KMATRIX_VM_DIR: tmp.path },
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

    // The watch lives as long as the VM. Until the Vm object exists, the
    // boot loop below looks at `watch.fatal` itself.
    let vm: Vm | undefined;
    const watch = new KernelWatch(options.consoleLogPath, (splat) => {
      if (vm) vm.#die(DEATH_REASON[splat.kind], splat);
    });
    const stdoutTail = new FileTail(guestStdoutPath);
    let up = false;
    const notes: string[] = [];
    let exited = false;
    void vng.exited.then(() => (exited = true));

    const fail = async (reason: string): Promise<never> => {
      await killGroup(vng, entry);
      await watch.poll().catch(() => {});
      await watch.stop();
      await stdoutTail.close();
      await stdinWriter.close();
      await tmp.cleanup();
      throw new VmBootError(kernel.name, reason, watch.recent(), options.consoleLogPath);
    };
    const bootFailure = () => watch.fatal && `${DEATH_REASON[watch.fatal.kind]} during boot`;

    // Wait for the guest's userspace, watching for a dead kernel or QEMU.
    while (!up) {
      await watch.poll();
      const broken = bootFailure();
      if (broken) return fail(broken);
      if (!up) {
        const lines = await stdoutTail.read();
        const failed = lines.find((line) => line.startsWith(FAILED_MARKER));
        if (failed) return fail(`the guest could not start its services: ${failed.slice(FAILED_MARKER.length).trim()}`);
        notes.push(...lines.filter((line) => line.startsWith(NOTE_MARKER)).map((line) => line.slice(NOTE_MARKER.length).trim()));
        up = lines.includes(UP_MARKER);
      }
      if (exited) return fail(`vng exited (${await vng.exited}) before the guest came up`);
      if (Date.now() > deadline) return fail(`no guest userspace within ${Math.round((deadline - started) / 1000)} s (boot deadline)`);
      if (options.signal?.aborted) return fail('aborted');
      if (!up) await sleep(25); // the marker's latency is boot time
    }
    const died = new AbortController();
    let guest: Guest;
    try {
      guest = await Promise.race([
        Guest.connect({ port, privateKeyPath: identity.privateKeyPath, deadline, signal: options.signal, label: `kernel ${kernel.name}`, lost: died.signal, agentSocket }),
        (async () => {
          while (!bootFailure() && !exited) {
            await sleep(200);
            await watch.poll();
          }
          throw new Error(bootFailure() || 'vng exited while waiting for SSH');
        })(),
      ]);
    } catch (err) {
      return fail(`SSH did not come up: ${(err as Error).message}`);
    }
    await stdoutTail.close();
    watch.booted();
    vm = new Vm({
      kernel, ssh: { port, privateKeyPath: identity.privateKeyPath, agentSocket }, accel, guest, consoleLogPath: options.consoleLogPath, bootMs: Date.now() - started, notes, died,
      process: vng, tmp, stdinWriter, watch, entry,
    });
    watch.start();
    // QEMU going away on its own (a panic with -no-reboot, a crash) is a
    // death too; the console's last lines say why.
    void vng.exited.then(async () => {
      if (vm.#stopped) return;
      await watch.poll().catch(() => {});
      const splat = watch.fatal;
      vm.#die(splat ? DEATH_REASON[splat.kind] : `QEMU exited unexpectedly (vng: ${await vng.exited})`, splat);
    });
    return vm;
  }

  /** Aborts when the VM dies, with a {@link VmDiedError} as the reason. */
  get lost(): AbortSignal {
    return this.#died.signal;
  }

  /** Throws the VM's death, if it died. */
  assertAlive(): void {
    if (this.#died.signal.aborted) throw this.#died.signal.reason;
  }

  #die(reason: string, splat?: Splat): void {
    if (this.#died.signal.aborted || this.#stopped) return;
    const said = splat ? describeSplats([splat]) : this.#watch.recent();
    this.#died.abort(new VmDiedError(this.kernel.name, reason, said, this.consoleLogPath));
    // A kernel that oopsed or stalled may still run: nothing more is asked of it.
    void killGroup(this.#process, this.#entry);
  }

  /**
   * Starts watching one case: marks the kernel log, and returns a watch
   * whose `finish()` fails if the kernel reported a problem since.
   */
  async watchCase(name: string): Promise<CaseWatch> {
    this.assertAlive();
    return CaseWatch.begin(this, name);
  }

  /** A position in the splats the console showed, to ask later what the kernel reported after it. */
  splatMark(): number {
    return this.#watch.mark();
  }

  /** The splats the console showed since `mark`, up to what it printed by now. */
  async splatsSince(mark: number): Promise<Splat[]> {
    await this.#watch.poll().catch(() => {});
    return this.#watch.splatsSince(mark);
  }

  /** The console log so far, for attaching to a failure. */
  async consoleText(): Promise<string> {
    return readFile(this.consoleLogPath, 'utf8').catch(() => '');
  }

  /** Power off cleanly; kill what lingers; remove temp files. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const dead = this.#died.signal.aborted;
      this.guest.close();
      await this.#stdinWriter.close(); // the guest's `cat` sees EOF, its init powers off
      // A dead VM cannot power off: no point in waiting for it.
      const poweredOff = !dead && (await settlesWithin(this.#process.exited, 20_000));
      if (!poweredOff || groupAlive(this.#entry.pid)) await killGroup(this.#process, this.#entry);
      else forget(this.#entry);
      await this.#watch.stop();
      await this.#tmp.cleanup();
    })();
    return this.#stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
