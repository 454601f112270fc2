import { describe, expect, test } from 'vitest';
import type { KernelLine } from './catalog.ts';
import { imageNameRegex, pickNewest, releaseOf } from './resolve.ts';

const line61: KernelLine = { name: '6.1', line: '6.1', suite: 'bookworm-security', flavour: 'cloud', arch: 'amd64' };
const line612: KernelLine = { name: '6.12', line: '6.12', suite: 'trixie-security', flavour: 'cloud', arch: 'amd64' };

describe('imageNameRegex', () => {
  // apt-cache search takes it as a POSIX extended regex; this subset means the same in JS.
  const matches = (line: KernelLine, name: string) => new RegExp(imageNameRegex(line)).test(name);

  test('matches the image packages of its line, signed or unsigned', () => {
    expect(matches(line61, 'linux-image-6.1.0-56-cloud-amd64-unsigned')).toBe(true);
    expect(matches(line61, 'linux-image-6.1.0-56-cloud-amd64')).toBe(true);
    expect(matches(line612, 'linux-image-6.12.107+deb13-cloud-amd64-unsigned')).toBe(true);
    expect(matches(line612, 'linux-image-6.12.107+deb13-cloud-amd64')).toBe(true);
  });

  test('does not match another line that shares a prefix', () => {
    expect(matches(line61, 'linux-image-6.10.3-cloud-amd64')).toBe(false);
    expect(matches(line61, 'linux-image-6.12.107+deb13-cloud-amd64-unsigned')).toBe(false);
    expect(matches(line612, 'linux-image-6.1.0-56-cloud-amd64-unsigned')).toBe(false);
  });

  test('the dot of the line is literal', () => {
    expect(matches(line61, 'linux-image-601.0-56-cloud-amd64')).toBe(false);
  });

  test('does not match meta, debug or other-flavour packages', () => {
    expect(matches(line61, 'linux-image-cloud-amd64')).toBe(false);
    expect(matches(line61, 'linux-image-6.1.0-56-cloud-amd64-dbg')).toBe(false);
    expect(matches(line61, 'linux-image-6.1.0-56-cloud-amd64-unsigned-dbg')).toBe(false);
    expect(matches(line61, 'linux-image-6.1.0-56-amd64-unsigned')).toBe(false);
    expect(matches(line61, 'linux-image-6.1.0-56-cloud-arm64')).toBe(false);
    expect(matches(line61, 'linux-headers-6.1.0-56-cloud-amd64')).toBe(false);
  });
});

describe('releaseOf', () => {
  test.each([
    ['linux-image-6.1.0-56-cloud-amd64-unsigned', '6.1.0-56-cloud-amd64'],
    ['linux-image-6.1.0-56-cloud-amd64', '6.1.0-56-cloud-amd64'],
    ['linux-image-6.12.107+deb13-cloud-amd64-unsigned', '6.12.107+deb13-cloud-amd64'],
    ['linux-binary-6.17.8+deb14-cloud-amd64', '6.17.8+deb14-cloud-amd64'],
    ['linux-modules-6.17.8+deb14-cloud-amd64', '6.17.8+deb14-cloud-amd64'],
  ])('%s → %s', (pkg, release) => {
    expect(releaseOf(pkg)).toBe(release);
  });
});

describe('pickNewest', () => {
  const candidate = (name: string, version: string) => ({ name, stanza: { Package: name, Version: version } });

  test('the newest version wins, by Debian ordering not string ordering', () => {
    const picked = pickNewest(
      [
        candidate('linux-image-6.1.0-9-cloud-amd64-unsigned', '6.1.27-1'),
        candidate('linux-image-6.1.0-56-cloud-amd64-unsigned', '6.1.192-1'),
        candidate('linux-image-6.1.0-56-cloud-amd64-unsigned', '6.1.192-2'),
        candidate('linux-image-6.1.0-40-cloud-amd64-unsigned', '6.1.99-3'),
      ],
      line61,
    );
    expect(picked?.stanza.Version).toBe('6.1.192-2');
    expect(picked?.name).toBe('linux-image-6.1.0-56-cloud-amd64-unsigned');
  });

  test('on a tie the unsigned build wins, whichever comes first', () => {
    const signed = candidate('linux-image-6.1.0-56-cloud-amd64', '6.1.192-2');
    const unsigned = candidate('linux-image-6.1.0-56-cloud-amd64-unsigned', '6.1.192-2');
    expect(pickNewest([signed, unsigned], line61)?.name).toBe(unsigned.name);
    expect(pickNewest([unsigned, signed], line61)?.name).toBe(unsigned.name);
  });

  test('a newer signed build beats an older unsigned one', () => {
    const picked = pickNewest(
      [candidate('linux-image-6.1.0-55-cloud-amd64-unsigned', '6.1.180-1'), candidate('linux-image-6.1.0-56-cloud-amd64', '6.1.192-2')],
      line61,
    );
    expect(picked?.name).toBe('linux-image-6.1.0-56-cloud-amd64');
  });

  test('versions of another line are ignored', () => {
    const picked = pickNewest(
      [
        candidate('linux-image-6.12.107+deb13-cloud-amd64-unsigned', '6.12.107-1'),
        candidate('linux-image-6.10.3-cloud-amd64', '6.10.3-1'),
        candidate('linux-image-6.1.0-56-cloud-amd64-unsigned', '6.1.192-2'),
      ],
      line61,
    );
    expect(picked?.name).toBe('linux-image-6.1.0-56-cloud-amd64-unsigned');
  });

  test('nothing of the line → undefined', () => {
    expect(pickNewest([candidate('linux-image-6.12.107+deb13-cloud-amd64', '6.12.107-1')], line61)).toBeUndefined();
    expect(pickNewest([], line61)).toBeUndefined();
  });
});
