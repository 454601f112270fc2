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

const kernelName = z.string().regex(/^[0-9a-z.+-]+$/, 'a short name such as "6.6-mine"');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA256 in lower-case hex');

/**
 * A kernel of your own build on this machine: an x86 bzImage (`arch/x86/boot/bzImage`,
 * or a distribution's `/boot/vmlinuz-…`), and its modules when it has any.
 * Paths are relative to the catalog's directory.
 */
export const LocalKernel = z.strictObject({
  name: kernelName,
  /** The bzImage or vmlinuz file. */
  image: z.string().min(1),
  /**
   * `lib/modules/<release>` itself, or the root a `make modules_install
   * INSTALL_MOD_PATH=…` wrote `lib/modules/<release>` into. Leave it out for a
   * kernel with everything the VM needs built in (see README, "Bring your own kernel").
   */
  modules: z.string().min(1).optional(),
  /** The kernel's .config, checked for what the VM and BPF need. Found beside a build tree's or /boot's image when left out. */
  config: z.string().min(1).optional(),
});
export type LocalKernel = z.infer<typeof LocalKernel>;

/** A file on a web server, pinned by its SHA256. */
export const RemoteFile = z.strictObject({ url: z.url({ protocol: /^https?$/ }), sha256 });
export type RemoteFile = z.infer<typeof RemoteFile>;

/**
 * A kernel published elsewhere: a bzImage at a URL with its SHA256 and, if
 * the kernel has modules, a tar archive of `lib/modules/<release>` (what
 * `make modules_install INSTALL_MOD_PATH=root && tar -C root -czf modules.tar.gz lib` makes).
 */
export const UrlKernel = z.strictObject({
  name: kernelName,
  url: z.url({ protocol: /^https?$/ }),
  sha256,
  modules: RemoteFile.optional(),
  config: RemoteFile.optional(),
});
export type UrlKernel = z.infer<typeof UrlKernel>;

/** One entry of the catalog: a Debian kernel line, a local build, or a kernel at a URL. */
export const CatalogEntry = z.union([KernelLine, LocalKernel, UrlKernel], {
  error: () =>
    'expected a Debian line { line, suite, flavour?, arch?, name? }, a local kernel { name, image, modules?, config? } ' +
    'or a kernel at a URL { name, url, sha256, modules?: { url, sha256 }, config?: { url, sha256 } }',
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

export const Catalog = z.strictObject({
  $comment: z.string().optional(),
  kernels: z.array(CatalogEntry).min(1),
});
export type Catalog = z.infer<typeof Catalog>;

/** Reads the catalog at `path` (the project config's `kernels.catalog`). */
export async function readCatalog(path: string): Promise<Catalog> {
  return parseJsonFile(path, Catalog, await readFile(path, 'utf8'));
}
