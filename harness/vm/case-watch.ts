import { randomUUID } from 'node:crypto';
import { shellQuote } from '../util/shell.ts';
import { describeSplats, findSplats, unexpectedSplats, type AllowedSplat, type Splat } from './kernel-log.ts';
import type { VmHandle } from './vm-handle.ts';

/** The kernel reported a problem while a case ran. */
export class KernelSplatError extends Error {
  readonly splats: Splat[];
  constructor(kernel: string, caseName: string, splats: Splat[], consoleLogPath: string) {
    const kinds = [...new Set(splats.map((s) => s.kind))].join(', ');
    super(
      `kernel ${kernel}: the kernel reported ${kinds} during "${caseName}":\n${describeSplats(splats)}\n` +
        `(console log: ${consoleLogPath}; a splat the case expects can be allowed with kernelLog.allow(pattern, reason))`,
    );
    this.splats = splats;
  }
}

/**
 * One case's view of the kernel log. It begins by writing a marker line into
 * the kernel's log (/dev/kmsg); `finish()` reads dmesg, takes the lines after
 * the marker, and fails on any splat among them that the case did not allow.
 * dmesg holds every level, so a WARN is seen even if the console's log level
 * hid it; the console watch covers what dmesg cannot (a kernel that died).
 */
export class CaseWatch {
  readonly #vm: VmHandle;
  readonly #name: string;
  readonly #marker: string;
  readonly #allowed: AllowedSplat[] = [];

  private constructor(vm: VmHandle, name: string, marker: string) {
    this.#vm = vm;
    this.#name = name;
    this.#marker = marker;
  }

  static async begin(vm: VmHandle, name: string): Promise<CaseWatch> {
    const marker = `kmatrix: case ${randomUUID().slice(0, 8)} begins: ${name.replace(/\s+/g, ' ').slice(0, 120)}`;
    await vm.guest.exec(`echo ${shellQuote(marker)} > /dev/kmsg`, { timeout: 10_000 });
    return new CaseWatch(vm, name, marker);
  }

  /** Accepts splats matching `pattern` in this case (BPF CI's allow list, per case), saying why. */
  allow(pattern: RegExp, reason: string): void {
    if (!reason.trim()) throw new Error('kernelLog.allow needs a reason: say why this kernel message is expected');
    this.#allowed.push({ pattern, reason });
  }

  /** Fails with the VM's death, or with the splats the kernel logged since the case began. */
  async finish(): Promise<void> {
    this.#vm.assertAlive();
    const log = (await this.#vm.guest.exec('dmesg', { timeout: 30_000 })).stdout.split('\n');
    this.#vm.assertAlive();
    const start = log.findLastIndex((line) => line.endsWith(this.#marker));
    // A case that logged more than the ring buffer holds pushed its marker
    // out: then every line still there belongs to it.
    const caseLines = start >= 0 ? log.slice(start + 1) : log;
    const splats = unexpectedSplats(findSplats(caseLines), this.#allowed);
    if (splats.length) throw new KernelSplatError(this.#vm.kernel.name, this.#name, splats, this.#vm.consoleLogPath);
  }
}
