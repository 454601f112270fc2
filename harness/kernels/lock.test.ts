import { describe, expect, test } from 'vitest';
import { selectKernels, type Lock, type LockedKernel } from './lock.ts';

function kernel(name: string, release: string): LockedKernel {
  return {
    name,
    line: name,
    suite: 'bookworm-security',
    flavour: 'cloud',
    arch: 'amd64',
    release,
    packages: [
      {
        package: `linux-image-${release}-unsigned`,
        version: '6.1.192-2',
        archive: 'debian-security',
        filename: `pool/updates/main/l/linux/linux-image-${release}-unsigned_6.1.192-2_amd64.deb`,
        sha256: '7ff7fc8da85d313242c20698c6b34542aea447673c7c1975b0d38bd6005100b5',
        size: 26714428,
      },
    ],
  };
}

const lock: Lock = {
  version: 1,
  kernels: [kernel('5.10', '5.10.0-35-cloud-amd64'), kernel('6.1', '6.1.0-56-cloud-amd64'), kernel('6.12', '6.12.107+deb13-cloud-amd64')],
};
const names = (ks: LockedKernel[]) => ks.map((k) => k.name);

describe('selectKernels', () => {
  test('no selection means every kernel', () => {
    expect(names(selectKernels(lock, undefined))).toEqual(['5.10', '6.1', '6.12']);
    expect(names(selectKernels(lock, ''))).toEqual(['5.10', '6.1', '6.12']);
    expect(names(selectKernels(lock, ' , '))).toEqual(['5.10', '6.1', '6.12']);
  });

  test('a subset comes back in lock order, not selection order', () => {
    expect(names(selectKernels(lock, '6.12,5.10'))).toEqual(['5.10', '6.12']);
  });

  test('whitespace and empty items are tolerated', () => {
    expect(names(selectKernels(lock, ' 6.1 , 6.12 ,'))).toEqual(['6.1', '6.12']);
  });

  test('a name is matched exactly, not as a prefix', () => {
    expect(names(selectKernels(lock, '6.1'))).toEqual(['6.1']);
  });

  test('an unknown name is an error naming it and the known kernels', () => {
    expect(() => selectKernels(lock, '6.1,4.19')).toThrow(/unknown kernel "4\.19".*known kernels.*: 5\.10, 6\.1, 6\.12$/);
  });
});
