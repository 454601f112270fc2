import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { parseJsonFile } from '../util/json-file.ts';

/**
 * One kernel line of the matrix, saying where it comes from, not which build:
 * `kmatrix kernels update` resolves it to the newest package of its suite.
 */
export const KernelLine = z.strictObject({
  /**
   * What users type in `KERNELS=…` and what the report shows. Defaults to the
   * line; for a major-only line ("7": the newest 7.x) to the line it resolved to.
   */
  name: z.string().regex(/^[0-9a-z.+-]+$/, 'a short name such as "6.1"').optional(),
  /** The upstream line, "6.1", or a major, "7", for the newest line of that major. */
  line: z.string().regex(/^\d+(\.\d+)?$/, 'a line such as "6.1", or a major such as "7"'),
  /** A Debian suite: bullseye, bookworm-security, trixie, trixie-backports, sid … */
  suite: z.string().min(1),
  flavour: z.string().default('cloud'),
  arch: z.enum(['amd64', 'arm64']).default('amd64'),
});
export type KernelLine = z.infer<typeof KernelLine>;

export const Catalog = z.strictObject({
  $comment: z.string().optional(),
  kernels: z.array(KernelLine).min(1),
});
export type Catalog = z.infer<typeof Catalog>;

/** Reads the catalog at `path` (the project config's `kernels.catalog`). */
export async function readCatalog(path: string): Promise<Catalog> {
  return parseJsonFile(path, Catalog, await readFile(path, 'utf8'));
}
