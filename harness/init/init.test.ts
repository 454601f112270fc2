import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { init } from './index.ts';
import { resolveConfig } from '../config/load.ts';

let root: string;
beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'kmatrix-init-test-'))));
afterEach(async () => rm(root, { recursive: true, force: true }));

async function ayaTemplate(): Promise<void> {
  for (const crate of ['myapp', 'myapp-common', 'myapp-ebpf']) await mkdir(join(root, crate, 'src'), { recursive: true });
  await writeFile(join(root, 'myapp', 'Cargo.toml'), '[package]\nname = "myapp"\n');
  await writeFile(join(root, 'myapp-common', 'Cargo.toml'), '[package]\nname = "myapp-common"\n');
  await writeFile(join(root, 'myapp-ebpf', 'Cargo.toml'), '[package]\nname = "myapp-ebpf"\n\n[[bin]]\nname = "myapp"\npath = "src/main.rs"\n');
  await writeFile(join(root, 'myapp-ebpf', 'src', 'main.rs'), '#![no_std]\n#[tracepoint]\npub fn myapp(ctx: TracePointContext) -> u32 { 0 }\n');
}

test('writes the config, a first scenario, the kernels and a workflow; twice changes nothing', async () => {
  await ayaTemplate();
  const first = await init(root);
  expect(first.wrote.sort()).toEqual(['.github/workflows/kmatrix.yml', 'images/kernels.json', 'images/kernels.lock.json', 'kmatrix.config.ts', 'scenarios/myapp.test.ts']);
  expect(first.next).toBe('npx kmatrix setup && npx kmatrix run');
  const scenario = await readFile(join(root, 'scenarios', 'myapp.test.ts'), 'utf8');
  expect(scenario).toContain("startLoader('myapp', {");
  expect(scenario).toContain("attach: { myapp: 'tracepoint:");
  // The config it wrote is one the loader accepts, naming the detected crates.
  const config = await resolveConfig(root, { ebpf: [{ crate: 'myapp-ebpf' }], userspace: [{ crate: 'myapp' }] });
  expect(config.ebpf).toEqual([{ crate: join(root, 'myapp-ebpf') }]);
  expect(await readFile(join(root, 'kmatrix.config.ts'), 'utf8')).toContain("ebpf: [{ crate: 'myapp-ebpf' }],\n  userspace: [{ crate: 'myapp' }],");

  const before = await readFile(join(root, 'kmatrix.config.ts'), 'utf8');
  const second = await init(root);
  expect(second.wrote).toEqual([]);
  expect(second.kept).toHaveLength(5);
  expect(await readFile(join(root, 'kmatrix.config.ts'), 'utf8')).toBe(before);
});

test("never overwrites a user's file", async () => {
  await ayaTemplate();
  await writeFile(join(root, 'kmatrix.config.ts'), '// mine\n');
  const result = await init(root);
  expect(result.kept).toEqual(['kmatrix.config.ts']);
  expect(await readFile(join(root, 'kmatrix.config.ts'), 'utf8')).toBe('// mine\n');
});

test('outside the aya-template layout, or without a program, it says what it looked for', async () => {
  await expect(init(root)).rejects.toThrow('kmatrix init needs the aya-template layout: no NAME-ebpf crate in');
  await ayaTemplate();
  await writeFile(join(root, 'myapp-ebpf', 'src', 'main.rs'), '#![no_std]\n');
  await expect(init(root)).rejects.toThrow('no program in myapp-ebpf/src: kmatrix init looks for aya-ebpf\'s attributes');
});
