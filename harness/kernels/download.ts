import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pRetry, { AbortError } from 'p-retry';
import type { LockedPackage } from './lock.ts';
import type { Mirrors } from './mirror.ts';

export interface DownloadProgress {
  (event: { pkg: LockedPackage; received: number; done: boolean }): void;
}

/** A verified copy of the package in the content-addressed store (`debs/<sha256>.deb`); see {@link ensureFile}. */
export async function ensurePackage(
  pkg: LockedPackage,
  cacheRoot: string,
  mirrors: Mirrors,
  onProgress?: DownloadProgress,
): Promise<{ path: string; downloaded: boolean; corrupt: boolean }> {
  const url = `${mirrors[pkg.archive]}/${pkg.filename}`;
  return ensureFile(
    { url, sha256: pkg.sha256, label: `${pkg.package} ${pkg.version}`, path: join(cacheRoot, 'debs', `${pkg.sha256}.deb`) },
    {
      onBytes: (received, done) => onProgress?.({ pkg, received, done }),
      gone: () =>
        `${pkg.package} ${pkg.version} is no longer on the mirror (${url}: 404); ` +
        'run `npm run kmatrix -- kernels update` to pin the current build',
    },
  );
}

/** A file to keep in a content-addressed store: where from, its SHA256, and where it goes. */
export interface PinnedDownload {
  url: string;
  sha256: string;
  /** What the file is, for messages. */
  label: string;
  path: string;
}

/**
 * Returns `file.path` holding a verified copy, downloading it if it is
 * missing or does not match its SHA256 (a truncated or corrupt file is
 * fetched again). Writes go to a private temp name and are renamed into
 * place, so two runs at once never see a half-written file.
 */
export async function ensureFile(
  file: PinnedDownload,
  options: { onBytes?: (received: number, done: boolean) => void; gone?: () => string } = {},
): Promise<{ path: string; downloaded: boolean; corrupt: boolean }> {
  const cached = await sha256OfFile(file.path);
  if (cached === file.sha256) return { path: file.path, downloaded: false, corrupt: false };
  await mkdir(dirname(file.path), { recursive: true });
  await pRetry(() => downloadVerified(file, options), { retries: 3, minTimeout: 500 });
  return { path: file.path, downloaded: true, corrupt: cached !== undefined };
}

async function downloadVerified(file: PinnedDownload, options: { onBytes?: (received: number, done: boolean) => void; gone?: () => string }) {
  const tmp = `${file.path}.part-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const response = await fetch(file.url);
    if (response.status === 404) throw new AbortError(options.gone?.() ?? `${file.label}: ${file.url} is gone (404)`);
    if (!response.ok || !response.body) throw new Error(`GET ${file.url}: HTTP ${response.status}`);
    const hash = createHash('sha256');
    let received = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        received += chunk.length;
        options.onBytes?.(received, false);
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body), meter, createWriteStream(tmp));
    const digest = hash.digest('hex');
    if (digest !== file.sha256) {
      // Retried: a connection cut short can end the body without an error.
      throw new Error(`${file.label}: ${file.url} has SHA256 ${digest} (${received} bytes), not the pinned ${file.sha256}`);
    }
    await rename(tmp, file.path);
    options.onBytes?.(received, true);
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
