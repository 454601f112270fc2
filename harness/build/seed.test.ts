import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { TargetSeed } from './seed.ts';

let root: string;
beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'kmatrix-seed-test-'))));
afterEach(async () => rm(root, { recursive: true, force: true }));

async function checkout(name: string, lock: string): Promise<string> {
  const dir = join(root, name, 'crate');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Cargo.lock'), lock);
  return dir;
}

describe('TargetSeed', () => {
  test("a checkout that never built starts from the seed of another with the same Cargo.lock", async () => {
    const cache = join(root, 'cache');
    const first = await checkout('a', 'lock 1');
    expect(await new TargetSeed(first, cache, ['release']).plant()).toBe('no seed');
    await mkdir(join(first, 'target', 'release', 'deps'), { recursive: true });
    await writeFile(join(first, 'target', 'release', 'deps', 'libdep.rlib'), 'compiled');
    await writeFile(join(first, 'target', 'mutants'), 'not seeded');
    await new TargetSeed(first, cache, ['release']).save();

    const second = await checkout('b', 'lock 1');
    expect(await new TargetSeed(second, cache, ['release']).plant()).toBe('planted');
    expect(await readFile(join(second, 'target', 'release', 'deps', 'libdep.rlib'), 'utf8')).toBe('compiled');
    expect(await readdir(join(second, 'target'))).toEqual(['release']);
    // Once it has a target of its own, the seed is left alone.
    expect(await new TargetSeed(second, cache, ['release']).plant()).toBe('not needed');

    const other = await checkout('c', 'lock 2');
    expect(await new TargetSeed(other, cache, ['release']).plant()).toBe('no seed');
  });

  test('keeps the newest seeds of a crate only', async () => {
    const cache = join(root, 'cache');
    for (const lock of ['1', '2', '3', '4', '5']) {
      const dir = await checkout(`v${lock}`, `lock ${lock}`);
      await mkdir(join(dir, 'target', 'release'), { recursive: true });
      await new TargetSeed(dir, cache, ['release']).save();
      await new Promise((r) => setTimeout(r, 20)); // distinct mtimes
    }
    expect(await readdir(join(cache, 'cargo-seeds'))).toHaveLength(4);
  });

  test("a build's seed and the checks' seed of one Cargo.lock are separate, nested subdirectories included", async () => {
    const cache = join(root, 'cache');
    const first = await checkout('a', 'lock 1');
    await mkdir(join(first, 'target', 'bpfel-unknown-none', 'release'), { recursive: true });
    await mkdir(join(first, 'target', 'bpfel-unknown-none', 'debug'), { recursive: true });
    await writeFile(join(first, 'target', 'bpfel-unknown-none', 'release', 'prog'), 'built');
    await writeFile(join(first, 'target', 'bpfel-unknown-none', 'debug', 'prog.rmeta'), 'checked');
    await new TargetSeed(first, cache, ['bpfel-unknown-none/release']).save();
    await new TargetSeed(first, cache, ['bpfel-unknown-none/debug']).save();

    const second = await checkout('b', 'lock 1');
    expect(await new TargetSeed(second, cache, ['bpfel-unknown-none/debug']).plant()).toBe('planted');
    // The checks' seed leaves the build's subdirectory to the build's seed.
    expect(await new TargetSeed(second, cache, ['bpfel-unknown-none/release']).plant()).toBe('planted');
    expect(await readFile(join(second, 'target', 'bpfel-unknown-none', 'release', 'prog'), 'utf8')).toBe('built');
    expect(await readFile(join(second, 'target', 'bpfel-unknown-none', 'debug', 'prog.rmeta'), 'utf8')).toBe('checked');
    expect((await readdir(join(second, 'target'))).sort()).toEqual(['bpfel-unknown-none']);
  });
});
