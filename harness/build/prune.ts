import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes all but the `keep` newest entries of `dir` that `ours` accepts:
 * the caches keyed by a hash (build seeds, guest tools) keep a few builds
 * for a branch switch, not every one.
 */
export async function keepNewest(dir: string, ours: (entry: string) => boolean, keep: number): Promise<void> {
  const entries = (await readdir(dir)).filter(ours);
  const dated = await Promise.all(entries.map(async (entry) => ({ entry, mtime: (await stat(join(dir, entry))).mtimeMs })));
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { entry } of dated.slice(keep)) await rm(join(dir, entry), { recursive: true, force: true });
}
