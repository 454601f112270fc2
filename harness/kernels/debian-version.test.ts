import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { compareDebianVersions } from './debian-version.ts';

const sign = (n: number) => Math.sign(n) as -1 | 0 | 1;

/** dpkg's own verdict on `a` vs `b`: -1, 0 or 1. */
function dpkgCompare(a: string, b: string): -1 | 0 | 1 {
  const holds = (op: string) => {
    try {
      execFileSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (holds('lt')) return -1;
  if (holds('eq')) return 0;
  return 1;
}

describe('compareDebianVersions', () => {
  test.each([
    ['1:1.0', '2.0', 1],
    ['2:1.0', '1:9.9', 1],
    ['0:6.1.0', '6.1.0', 0],
    ['6.12~rc1', '6.12', -1],
    ['6.12~rc1', '6.12~rc2', -1],
    ['6.1.192-2', '6.1.192-1', 1],
    ['6.1.192-1', '6.1.99-3', 1],
    ['6.12.38-1~bpo12+1', '6.12.38-1', -1],
    ['6.12.43+deb13', '6.12.43', 1],
    ['6.1.0-1+deb12u1', '6.1.0-1+deb12u10', -1],
    ['1.10', '1.9', 1],
    ['6.1.192-2', '6.1.192-2', 0],
  ] as const)('%s vs %s → %i', (a, b, expected) => {
    expect(sign(compareDebianVersions(a, b))).toBe(expected);
    expect(sign(compareDebianVersions(b, a))).toBe(-expected || 0);
  });

  // The reference: the same ordering dpkg itself uses.
  const pairs: [string, string][] = [
    ['1:1.0', '2.0'],
    ['1:0', '99999'],
    ['0:1.0', '1.0'],
    ['2:1.0', '1:9.9'],
    ['6.12~rc1', '6.12'],
    ['6.12~rc1', '6.12~rc2'],
    ['6.12~rc1-1~exp1', '6.12~rc1-1'],
    ['1.0~', '1.0'],
    ['1.0~~', '1.0~'],
    ['1.0~rc1+dfsg', '1.0'],
    ['6.1.192-2', '6.1.192-1'],
    ['6.1.192-1', '6.1.99-3'],
    ['6.1.153-1', '6.1.192-2'],
    ['5.10.237-1', '6.1.0-1'],
    ['6.1.0-56', '6.1.0-9'],
    ['6.12.38-1~bpo12+1', '6.12.38-1'],
    ['6.12.38-1~bpo12+1', '6.12.37-1'],
    ['6.12.43+deb13', '6.12.43'],
    ['6.12.43+deb13-1', '6.12.43-1'],
    ['1.0-1+deb12u2', '1.0-1+deb13u1'],
    ['1.0-1+deb12u1', '1.0-1+deb12u10'],
    ['1.0-1+b1', '1.0-1'],
    ['1.10', '1.9'],
    ['10', '9'],
    ['001', '1'],
    ['1.0', '1.0-0'],
    ['1.2.3', '1.2.3.0'],
    ['1.0a', '1.0'],
    ['1.0+', '1.0a'],
    ['1.0.', '1.0+'],
    ['A', 'a'],
    ['1.0-1-2', '1.0-2-1'],
    ['20240101', '20231231'],
    ['1.18446744073709551616', '1.18446744073709551617'],
    ['6.1.192-2', '6.1.192-2'],
  ];
  test.each(pairs)('agrees with dpkg --compare-versions: %s vs %s', (a, b) => {
    const reference = dpkgCompare(a, b);
    expect(sign(compareDebianVersions(a, b))).toBe(reference);
    expect(sign(compareDebianVersions(b, a))).toBe(-reference || 0);
  });
});
