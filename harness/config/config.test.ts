import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, resolveConfig } from './load.ts';

let root: string;
beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'kmatrix-config-test-'))));
afterEach(async () => rm(root, { recursive: true, force: true }));

async function crate(name: string): Promise<void> {
  await mkdir(join(root, name), { recursive: true });
  await writeFile(join(root, name, 'Cargo.toml'), `[package]\nname = "${name}"\n`);
}

describe('a config with mistakes', () => {
  test('names each key, what it expected and what it got', async () => {
    const error = await resolveConfig(root, { ebpf: [{ crate: 7 }], vm: { cpus: 0, disk: 1 }, scenario: ['x'] }, 'kmatrix.config.ts').catch((e: Error) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      [
        'kmatrix.config.ts is not valid:',
        'ebpf[0]: expected one of { crate }, { command, objects } or { objects }',
        'vm.cpus: Too small: expected number to be >=1',
        'vm: unknown key "disk"',
        '(top level): unknown key "scenario"',
      ].join('\n'),
    );
  });

  test('a file without a default export says how to write one', async () => {
    await writeFile(join(root, 'kmatrix.config.mjs'), 'export const config = {};\n');
    await expect(loadConfig(root)).rejects.toThrow(`${join(root, 'kmatrix.config.mjs')} has no default export; write \`export default defineConfig({ … })\``);
  });
});

describe('without a config file', () => {
  test('the aya-template layout gives the eBPF crate and the userspace crate beside it', async () => {
    await crate('myapp');
    await crate('myapp-ebpf');
    await crate('myapp-common');
    const config = await loadConfig(root);
    expect(config.ebpf).toEqual([{ crate: join(root, 'myapp-ebpf') }]);
    expect(config.userspace).toEqual([{ crate: join(root, 'myapp') }]);
    expect(config.scenarios).toEqual(['scenarios/**/*.test.ts']);
    expect(config.kernels).toEqual({ catalog: join(root, 'images', 'kernels.json'), lock: join(root, 'images', 'kernels.lock.json') });
    expect(config.vm).toEqual({ memoryMiB: 1024, cpus: 2 });
  });

  test('no eBPF crate, or several, is an error that says what to write', async () => {
    await expect(loadConfig(root)).rejects.toThrow(`no kmatrix.config.ts, and no NAME-ebpf crate in ${root} (the aya-template layout); say where the eBPF crate is: ebpf: [{ crate: 'path' }]`);
    await crate('a-ebpf');
    await crate('b-ebpf');
    await expect(loadConfig(root)).rejects.toThrow('several eBPF crates in');
  });
});

test('a config file: paths are relative to it, defaults fill the rest', async () => {
  await writeFile(
    join(root, 'kmatrix.config.ts'),
    "const config: { ebpf: { objects: string }[]; vm: { cpus: number } } = { ebpf: [{ objects: 'prebuilt' }], vm: { cpus: 1 } };\nexport default config;\n",
  );
  const config = await loadConfig(root);
  expect(config.file).toBe(join(root, 'kmatrix.config.ts'));
  expect(config.ebpf).toEqual([{ objects: join(root, 'prebuilt') }]);
  expect(config.userspace).toEqual([]);
  expect(config.vm).toEqual({ memoryMiB: 1024, cpus: 1 });
  expect(config.baseline).toBe(join(root, 'kmatrix.baseline.json'));
  expect(config.gate).toEqual({ threshold: 10, flaky: 'block' });
});

test('the gate\'s baseline and thresholds: from the config, validated', async () => {
  const config = await resolveConfig(root, { ebpf: [{ objects: 'o' }], baseline: 'ci/baseline.json', gate: { threshold: 5, flaky: 'allow' } });
  expect(config.baseline).toBe(join(root, 'ci', 'baseline.json'));
  expect(config.gate).toEqual({ threshold: 5, flaky: 'allow' });
  const error = await resolveConfig(root, { ebpf: [{ objects: 'o' }], gate: { threshold: -1, flaky: 'maybe' } }, 'kmatrix.config.ts').catch((e: Error) => e);
  expect((error as Error).message).toMatch(/gate\.threshold: .*>=0[\s\S]*gate\.flaky: /);
});
