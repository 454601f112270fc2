import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { keepNewest } from './prune.ts';
import { exists } from '../util/files.ts';

/** Seeds kept per crate: the newest ones, by Cargo.lock and subdirectories: a build's and the checks', for a branch switch or two. */
const SEEDS_KEPT = 4;

/**
 * A fresh checkout's first build compiles every dependency from scratch: a
 * minute, where the checkout before it had all of them compiled. Checkouts
 * whose Cargo.lock is the same compile the same dependencies, so the first
 * build of each lock leaves a copy of the crate's target directory in the
 * cache (a seed, named by the lock's hash), and a checkout that has never
 * built starts from it. cargo then compiles only the workspace's own
 * crates: their metadata hash includes their path, which differs per
 * checkout, so another checkout's build of them is never taken for this
 * one's. A copy, not a shared target directory: a checkout's binaries stay
 * its own while another one builds.
 */
export class TargetSeed {
  readonly #crateDir: string;
  readonly #seedsDir: string;
  /**
   * The target's subdirectories worth seeding (profiles and targets, not
   * mutants): `release` and `bpfel-unknown-none/release` for a build,
   * `debug` for clippy and the tests. Each set is a seed of its own.
   */
  readonly #subdirs: string[];

  constructor(crateDir: string, cacheRoot: string, subdirs: string[]) {
    this.#crateDir = crateDir;
    this.#seedsDir = join(cacheRoot, 'cargo-seeds');
    this.#subdirs = subdirs;
  }

  /** Before the build: copies the seed into a target directory that has none of `subdirs`. */
  async plant(): Promise<'planted' | 'not needed' | 'no seed'> {
    const target = join(this.#crateDir, 'target');
    if (await this.#hasAny(target)) return 'not needed';
    const seed = await this.#seedPath();
    if (!(await exists(seed))) return 'no seed';
    await mkdir(target, { recursive: true });
    for (const subdir of this.#subdirs) {
      if (!(await exists(join(seed, subdir)))) continue;
      // Whole or not at all: a half-copied dependency with an intact
      // fingerprint would pass for fresh.
      const partial = join(target, `.seeding-${process.pid}-${subdir.replaceAll('/', '-')}`);
      await execa('cp', ['-a', '--reflink=auto', join(seed, subdir), partial]);
      await mkdir(dirname(join(target, subdir)), { recursive: true });
      await rename(partial, join(target, subdir));
    }
    return 'planted';
  }

  /** After a successful build: leaves the seed for this Cargo.lock, unless there is one (then it costs a stat). */
  async save(): Promise<void> {
    const seed = await this.#seedPath();
    if (await exists(seed)) return;
    await mkdir(this.#seedsDir, { recursive: true });
    const partial = `${seed}.partial-${process.pid}`;
    try {
      await mkdir(partial);
      for (const subdir of this.#subdirs) {
        const from = join(this.#crateDir, 'target', subdir);
        if (!(await exists(from))) continue;
        await mkdir(dirname(join(partial, subdir)), { recursive: true });
        await execa('cp', ['-a', '--reflink=auto', from, join(partial, subdir)]);
      }
      // Another checkout may have saved the same seed meanwhile: theirs stays.
      await rename(partial, seed).catch(() => {});
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    await this.#prune();
  }

  async #seedPath(): Promise<string> {
    const lock = await readFile(join(this.#crateDir, 'Cargo.lock'));
    const name = this.#crateDir.split('/').filter(Boolean).pop() ?? 'crate';
    const key = createHash('sha256').update(lock).update(`\0${this.#subdirs.join('\0')}`).digest('hex');
    return join(this.#seedsDir, `${name}-${key.slice(0, 16)}`);
  }

  async #hasAny(target: string): Promise<boolean> {
    for (const subdir of this.#subdirs) if (await exists(join(target, subdir))) return true;
    return false;
  }

  async #prune(): Promise<void> {
    const name = (await this.#seedPath()).split('/').pop()!.replace(/-[0-9a-f]{16}$/, '');
    await keepNewest(this.#seedsDir, (entry) => entry.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(entry.slice(name.length + 1)), SEEDS_KEPT);
  }
}
