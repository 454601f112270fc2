import { access, constants, mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';

export type Accel = 'kvm' | 'tcg';
export const AccelSetting = z.enum(['auto', 'kvm', 'tcg']);
export type AccelSetting = z.infer<typeof AccelSetting>;

const ProbeCache = z.object({ bootId: z.string(), accel: z.enum(['kvm', 'tcg']), reason: z.string() });

/**
 * Decides between KVM and TCG. `auto` does not trust /dev/kvm: inside a VM
 * without working nested virtualisation KVM opens fine and the guest then
 * hangs after the decompressor. So it boots the kernel under KVM with a short
 * deadline and looks for the kernel's first printk on the serial console.
 * The verdict is cached per host boot (it cannot change before a reboot).
 */
export async function chooseAccel(
  setting: AccelSetting,
  vmlinuz: string,
  cacheRoot: string,
  warn: (msg: string) => void = console.warn,
): Promise<Accel> {
  if (setting !== 'auto') return setting;
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const cachePath = join(cacheRoot, 'accel-probe.json');
  const cached = ProbeCache.safeParse(JSON.parse(await readFile(cachePath, 'utf8').catch(() => '{}')));
  let verdict: { accel: Accel; reason: string };
  if (cached.success && cached.data.bootId === bootId) {
    verdict = cached.data;
  } else {
    verdict = await probeKvm(vmlinuz);
    await mkdir(cacheRoot, { recursive: true });
    await writeFileAtomic(cachePath, JSON.stringify({ bootId, ...verdict }));
  }
  if (verdict.accel === 'tcg') {
    warn(`kmatrix: KVM is not usable (${verdict.reason}); falling back to TCG software emulation, which is 5-10x slower`);
  }
  return verdict.accel;
}

const PROBE_DEADLINE_MS = 8_000;

export async function probeKvm(vmlinuz: string): Promise<{ accel: Accel; reason: string }> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is missing or not writable by this user' };
  }
  const qemu = execa(
    'qemu-system-x86_64',
    ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
      '-kernel', vmlinuz, '-append', 'console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 init=/nonexistent'],
    { reject: false, timeout: PROBE_DEADLINE_MS, stdin: 'ignore', killDescendants: true },
  );
  let seen = false;
  qemu.stdout?.on('data', (chunk: Buffer) => {
    if (!seen && chunk.toString().includes('Linux version')) {
      seen = true;
      qemu.kill('SIGKILL');
    }
  });
  const result = await qemu;
  if (seen) return { accel: 'kvm', reason: 'a KVM guest printed its banner' };
  const why = result.timedOut
    ? `a KVM guest printed nothing within ${PROBE_DEADLINE_MS / 1000} s`
    : `qemu -accel kvm failed: ${(result.stderr || '').toString().trim().split('\n').pop()}`;
  return { accel: 'tcg', reason: why };
}
