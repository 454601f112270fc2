import { rename, writeFile } from 'node:fs/promises';

/** Writes a file so that readers (and a concurrent writer) see all of it or none. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
