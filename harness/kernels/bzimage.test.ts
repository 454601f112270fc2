import { describe, expect, test } from 'vitest';
import { releaseFromHeader } from './bzimage.ts';

/** The first sectors of a bzImage: boot protocol `version`, and `kernel_version` pointing at `text` (offset from 0x200). */
function header(text: string, { magic = 'HdrS', version = 0x20f, at = 0x3000 } = {}): Buffer {
  const buf = Buffer.alloc(0x4000);
  buf.write(magic, 0x202, 'latin1');
  buf.writeUInt16LE(version, 0x206);
  buf.writeUInt16LE(at - 0x200, 0x20e);
  buf.write(`${text}\0`, at, 'latin1');
  return buf;
}

describe('releaseFromHeader', () => {
  test("an image's release is the first word of its version string", () => {
    const text = '6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)';
    expect(releaseFromHeader(header(text), 'vmlinuz')).toBe('6.1.0-56-cloud-amd64');
    expect(releaseFromHeader(header('6.13.0-rc1-mine+ (me@box) #3 SMP', { at: 0x2100 }), 'bzImage')).toBe('6.13.0-rc1-mine+');
  });

  test('anything but a bzImage is refused, naming the file and what to give instead', () => {
    const elf = Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(0x4000)]);
    expect(() => releaseFromHeader(elf, 'vmlinux')).toThrow(/vmlinux is not an x86 bzImage \(no "HdrS" boot header\): give the bzImage/);
    expect(() => releaseFromHeader(header('6.1.0', { version: 0x1ff }), 'old')).toThrow(/boot protocol older than 2\.00/);
    expect(() => releaseFromHeader(header('garbage here'), 'odd')).toThrow(/does not start with a release: "garbage here"/);
    expect(() => releaseFromHeader(header('6.1.0').subarray(0, 0x100), 'short')).toThrow(/no "HdrS"/);
  });
});
