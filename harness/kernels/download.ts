import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pRetry, { AbortError } from 'p-retry';
import type { LockedPackage } from './lock.ts';
import type { Mirrors } from './mirror.ts';

export interface DownloadProgress {
  (event: { pkg: LockedPackage; received: number; done: boolean }): void;
}

/**
 * Returns the path of a verified copy of the package in the content-addressed
 * store (`debs/<sha256>.deb`), downloading it if it is missing or does not
 * match its SHA256 (a truncated or corrupt file is fetched again). Writes go
 * to a private temp name and are renamed into place, so two runs at once
 * never see a half-written file.
 */
export async function ensurePackage(
  pkg: LockedPackage,
  cacheRoot: string,
  mirrors: Mirrors,
  onProgress?: DownloadProgress,
): Promise<{ path: string; downloaded: boolean; corrupt: boolean }> {
  const dir = join(cacheRoot, 'debs');
  const path = join(dir, `${pkg.sha256}.deb`);
  const cached = await sha256OfFile(path);
  if (cached === pkg.sha256) return { path, downloaded: false, corrupt: false };
  await mkdir(dir, { recursive: true });
  const url = `${mirrors[pkg.archive]}/${pkg.filename}`;
  await pRetry(() => downloadVerified(url, pkg, path, onProgress), {
    retries: 3,
    minTimeout: 500,
  });
  return { path, downloaded: true, corrupt: cached !== undefined };
}

async function downloadVerified(url: string, pkg: LockedPackage, dest: string, onProgress?: DownloadProgress) {
  const tmp = `${dest}.part-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const response = await fetch(url);
    if (response.status === 404) {
      throw new AbortError(
        `${pkg.package} ${pkg.version} is no longer on the mirror (${url}: 404); ` +
          'run `npm run kmatrix -- kernels update` to pin the current build',
      );
    }
    if (!response.ok || !response.body) throw new Error(`GET ${url}: HTTP ${response.status}`);
    const hash = createHash('sha256');
    let received = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        received += chunk.length;
        onProgress?.({ pkg, received, done: false });
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body), meter, createWriteStream(tmp));
    const digest = hash.digest('hex');
    if (digest !== pkg.sha256) {
      throw new Error(`${pkg.package}: SHA256 ${digest} does not match the lock's ${pkg.sha256} (${received} bytes)`);
    }
    await rename(tmp, dest);
    onProgress?.({ pkg, received, done: true });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** SHA256 of a file, or undefined when it does not exist. */
export async function sha256OfFile(path: string): Promise<string | undefined> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
