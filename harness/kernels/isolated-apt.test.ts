import { describe, expect, test } from 'vitest';
import { archiveOf, parseStanzas } from './isolated-apt.ts';

describe('archiveOf', () => {
  test.each([
    ['bookworm-security', 'debian-security'],
    ['trixie-security', 'debian-security'],
    ['bookworm', 'debian'],
    ['bookworm-backports', 'debian'],
    ['sid', 'debian'],
  ])('%s lives in %s', (suite, archive) => {
    expect(archiveOf(suite)).toBe(archive);
  });
});

describe('parseStanzas', () => {
  const show = `Package: linux-image-6.1.0-56-cloud-amd64-unsigned
Source: linux (6.1.192-2)
Version: 6.1.192-2
Installed-Size: 73421
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Description: Linux 6.1 for x86-64 cloud
 The Linux kernel 6.1 and modules for use on x86-64 cloud platforms.
 .
 This kernel lacks support for physical hardware.
Filename: pool/updates/main/l/linux/linux-image-6.1.0-56-cloud-amd64-unsigned_6.1.192-2_amd64.deb
Size: 26714428
SHA256: 7ff7fc8da85d313242c20698c6b34542aea447673c7c1975b0d38bd6005100b5

Package: linux-image-6.1.0-56-cloud-amd64-unsigned
Version: 6.1.192-1
Size: 26710000

`;

  test('one record per stanza, fields by key', () => {
    const stanzas = parseStanzas(show);
    expect(stanzas).toHaveLength(2);
    expect(stanzas[0]).toMatchObject({
      Package: 'linux-image-6.1.0-56-cloud-amd64-unsigned',
      Source: 'linux (6.1.192-2)',
      Version: '6.1.192-2',
      Size: '26714428',
      SHA256: '7ff7fc8da85d313242c20698c6b34542aea447673c7c1975b0d38bd6005100b5',
    });
    expect(stanzas[1]).toEqual({ Package: 'linux-image-6.1.0-56-cloud-amd64-unsigned', Version: '6.1.192-1', Size: '26710000' });
  });

  test('continuation lines join their field, and a " ." line does not end the stanza', () => {
    const [first] = parseStanzas(show);
    expect(first!.Description).toBe(
      'Linux 6.1 for x86-64 cloud\nThe Linux kernel 6.1 and modules for use on x86-64 cloud platforms.\n.\nThis kernel lacks support for physical hardware.',
    );
    // Fields after the multi-line description still belong to the first stanza.
    expect(first!.Filename).toBe('pool/updates/main/l/linux/linux-image-6.1.0-56-cloud-amd64-unsigned_6.1.192-2_amd64.deb');
  });

  test('a value keeps its colons', () => {
    expect(parseStanzas('Package: a\nDepends: foo:any (>= 1:2.0)\n')).toEqual([{ Package: 'a', Depends: 'foo:any (>= 1:2.0)' }]);
  });

  test('blank lines holding only whitespace separate stanzas too', () => {
    expect(parseStanzas('Package: a\n  \nPackage: b\n')).toEqual([{ Package: 'a' }, { Package: 'b' }]);
  });

  test('empty output gives no stanzas', () => {
    expect(parseStanzas('')).toEqual([]);
    expect(parseStanzas('\n\n')).toEqual([]);
  });
});
