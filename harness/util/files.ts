import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Every regular file under `dir`, at any depth, as paths joined to `dir` (symlinks left out). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
