import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * What the guest boots through before the kernel, and the QEMU options
 * that choose it.
 *
 * QEMU's default firmware, SeaBIOS, enumerates every PCI device and runs
 * their option ROMs before it hands over to the kernel: the NIC's iPXE ROM
 * alone is a few hundred ms under software emulation, and the harness never
 * boots from the network. qboot, which QEMU ships beside SeaBIOS, loads the
 * kernel that `-kernel` names and sets up what Linux needs (e820, PCI, the
 * ACPI tables QEMU makes), nothing else. Together with the kernel options
 * of {@link kernelBootOptions}, measured on 5.10 and 6.1 under TCG: 0.8-0.9 s
 * less from `vng` to SSH ready (medians of 6 interleaved boots each way).
 * Where QEMU has no qboot.rom (some distributions leave it out), SeaBIOS
 * boots with the NIC's ROM left out.
 */
export interface Firmware {
  name: 'qboot' | 'seabios';
  /** For QEMU's command line, before the devices. */
  qemuOptions: string[];
  /** For the NIC's `-device` properties. */
  nicProperties: string;
}

const QBOOT = 'qboot.rom';

const chosen = new Map<string, Promise<Firmware>>();

/** The firmware for VMs of the `qemu` on env's PATH: qboot when its data directories hold it. Asked once per process and PATH. */
export function chooseFirmware(env: NodeJS.ProcessEnv, qemu = 'qemu-system-x86_64'): Promise<Firmware> {
  const key = `${qemu}\0${env.PATH ?? ''}`;
  let firmware = chosen.get(key);
  if (!firmware) chosen.set(key, (firmware = findFirmware(qemu, env)));
  return firmware;
}

async function findFirmware(qemu: string, env: NodeJS.ProcessEnv): Promise<Firmware> {
  const dirs = await qemuDataDirs(qemu, env);
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.includes(QBOOT)) return { name: 'qboot', qemuOptions: ['-bios', join(dir, QBOOT)], nicProperties: '' };
  }
  return { name: 'seabios', qemuOptions: [], nicProperties: ',romfile=' };
}

/** Where `qemu` looks for firmware (`-L help`: one directory a line). */
async function qemuDataDirs(qemu: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const result = await execa(qemu, ['-L', 'help'], { env, reject: false, timeout: 10_000 });
  if (result.exitCode !== 0) return [];
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

/**
 * Kernel options the harness boots every guest with, and why each is safe
 * for what it tests.
 *
 * `cryptomgr.notests`: every Debian kernel of the matrix runs the crypto
 * API's self-tests while it boots (CONFIG_CRYPTO_MANAGER_DISABLE_TESTS is
 * off); under software emulation the Diffie-Hellman and RSA tests alone
 * take 0.3 s (initcall_debug on 5.10: dh_init 223 ms, rsa_init 63 ms).
 * They check the kernel's ciphers, which no BPF program or verifier
 * decision depends on; the algorithms themselves stay registered.
 */
export const kernelBootOptions = ['cryptomgr.notests'];
