import { open } from 'node:fs/promises';

/** The x86 boot protocol's header (Documentation/arch/x86/boot.rst) lies in the image's first sectors. */
const HEADER_BYTES = 64 * 1024;
const MAGIC_AT = 0x202;
const VERSION_AT = 0x206;
const KERNEL_VERSION_AT = 0x20e;

/**
 * The release (`uname -r`) an x86 bzImage says it is: its header points at
 * the version string (`6.1.0-56-cloud-amd64 (builder) #1 SMP …`), whose
 * first word is the release, so an image is known without booting it.
 * Throws, naming the file, for anything else (an uncompressed vmlinux, an
 * arm64 Image).
 */
export function releaseFromHeader(header: Buffer, file: string): string {
  const notBzImage = (why: string) =>
    new Error(`${file} is not an x86 bzImage (${why}): give the bzImage (arch/x86/boot/bzImage of a build, or /boot/vmlinuz-…), not vmlinux`);
  if (header.length < KERNEL_VERSION_AT + 2 || header.toString('latin1', MAGIC_AT, MAGIC_AT + 4) !== 'HdrS') throw notBzImage('no "HdrS" boot header');
  // kernel_version exists from boot protocol 2.00 on.
  if (header.readUInt16LE(VERSION_AT) < 0x200) throw notBzImage('boot protocol older than 2.00');
  const at = header.readUInt16LE(KERNEL_VERSION_AT) + 0x200;
  const end = header.indexOf(0, at);
  if (at >= header.length || end < 0) throw notBzImage('its version string lies outside the header');
  const release = header.toString('latin1', at, end).split(' ')[0] ?? '';
  if (!/^\d+\.\d+/.test(release)) throw notBzImage(`its version string does not start with a release: ${JSON.stringify(header.toString('latin1', at, Math.min(end, at + 60)))}`);
  return release;
}

/** {@link releaseFromHeader} of a file. */
export async function releaseOfImage(path: string): Promise<string> {
  const file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`kernel image ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0);
    return releaseFromHeader(header.subarray(0, bytesRead), path);
  } finally {
    await file.close();
  }
}
