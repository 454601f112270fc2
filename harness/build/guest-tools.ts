import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { keepNewest } from './prune.ts';
import { exists, filesUnder } from '../util/files.ts';
import { join, relative } from 'node:path';

/** kmatrix's own binaries that run in the guest, built from userspace-rs. */
export const GUEST_TOOLS = ['kmatrix-loader', 'kmatrix-agent', 'kmatrix-fastboot', 'kmatrix-probe-target'] as const;
/** Builds of other sources kept beside the current one (a branch switch, an upgrade). */
const KEPT = 3;

/**
 * kmatrix's guest tools, kept in the cache by the hash of the sources they
 * were built from: a project that reinstalls kmatrix (npm ci), or a fresh
 * copy of one, finds them built instead of compiling the loader again
 * (half a minute), and a changed source is a new hash, never a stale binary.
 */
export class GuestToolsCache {
  readonly #crateDir: string;
  readonly #root: string;

  constructor(crateDir: string, cacheRoot: string) {
    this.#crateDir = crateDir;
    this.#root = join(cacheRoot, 'guest-tools');
  }

  /** The directory of the tools built from the current sources, if there is one. */
  async find(): Promise<string | undefined> {
    const dir = join(this.#root, await this.#sourceHash());
    return (await exists(join(dir, GUEST_TOOLS.at(-1)!))) ? dir : undefined;
  }

  /** Keeps the tools cargo just built (in `releaseDir`) under the sources' hash; returns their directory. */
  async keep(releaseDir: string): Promise<string> {
    const dir = join(this.#root, await this.#sourceHash());
    const partial = `${dir}.partial-${process.pid}`;
    await mkdir(partial, { recursive: true });
    try {
      for (const tool of GUEST_TOOLS) await copyFile(join(releaseDir, tool), join(partial, tool));
      // Whoever renames first wins; the other copy is the same build.
      await rename(partial, dir).catch(() => {});
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    await keepNewest(this.#root, (entry) => /^[0-9a-f]{16}$/.test(entry), KEPT);
    return dir;
  }

  async #sourceHash(): Promise<string> {
    const hash = createHash('sha256');
    const files = ['Cargo.toml', 'Cargo.lock', ...(await filesUnder(join(this.#crateDir, 'src'))).map((f) => relative(this.#crateDir, f))].sort();
    for (const file of files) hash.update(file).update('\0').update(await readFile(join(this.#crateDir, file))).update('\0');
    return hash.digest('hex').slice(0, 16);
  }

}

