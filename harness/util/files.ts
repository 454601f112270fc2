import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Every regular file under `dir`, at any depth, as paths joined to `dir` (symlinks left out). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Whether `path` exists (and can be reached). */
export async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** The first of `paths` that exists, in order. */
export async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) if (await exists(path)) return path;
  return undefined;
}
