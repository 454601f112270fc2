import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { chooseFirmware } from './firmware.ts';

describe('chooseFirmware', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmatrix-firmware-test-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A stand-in QEMU whose `-L help` lists `dataDirs`, in its own PATH directory. */
  async function fakeQemu(name: string, dataDirs: string[]): Promise<NodeJS.ProcessEnv> {
    const bin = join(dir, `bin-${name}`);
    await mkdir(bin);
    await writeFile(join(bin, name), `#!/bin/sh\n[ "$1 $2" = "-L help" ] || exit 3\nprintf '%s\\n' ${dataDirs.map((d) => `'${d}'`).join(' ')}\n`);
    await chmod(join(bin, name), 0o755);
    return { PATH: `${bin}:/usr/bin:/bin` };
  }

  test('qboot from the first of QEMU data directories that holds it, and the NIC keeps its ROM setting', async () => {
    const seabios = join(dir, 'seabios');
    const qemuData = join(dir, 'qemu');
    await mkdir(seabios);
    await mkdir(qemuData);
    await writeFile(join(seabios, 'bios-256k.bin'), '');
    await writeFile(join(qemuData, 'qboot.rom'), '');
    const env = await fakeQemu('qemu-a', [join(dir, 'missing'), seabios, qemuData]);
    expect(await chooseFirmware(env, 'qemu-a')).toEqual({ name: 'qboot', qemuOptions: ['-bios', join(qemuData, 'qboot.rom')], nicProperties: '' });
  });

  test('without qboot.rom: SeaBIOS, with the NIC option ROM left out', async () => {
    const seabios = join(dir, 'seabios');
    await mkdir(seabios);
    const env = await fakeQemu('qemu-b', [seabios]);
    expect(await chooseFirmware(env, 'qemu-b')).toEqual({ name: 'seabios', qemuOptions: [], nicProperties: ',romfile=' });
  });

  test('a QEMU that cannot list its data directories gets SeaBIOS', async () => {
    const env = { PATH: `${join(dir, 'nowhere')}:/usr/bin:/bin` };
    expect((await chooseFirmware(env, 'qemu-missing-here')).name).toBe('seabios');
  });
});
