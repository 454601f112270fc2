import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ownerPid, sweepStaleTempDirs } from './reaper.ts';

describe('ownerPid', () => {
  test('reads the pid tmp-promise puts into a VM temp dir name', () => {
    expect(ownerPid('kmatrix-vm-6.12--6178-xYj70qxq44Ol')).toBe(6178);
    expect(ownerPid('kmatrix-vm-7.3--42-abc')).toBe(42);
  });

  test('other names are not ours', () => {
    expect(ownerPid('kmatrix-bench-123')).toBeUndefined();
    expect(ownerPid('virtme1234')).toBeUndefined();
  });
});

describe('sweepStaleTempDirs', () => {
  test('removes only the dirs of processes that are gone', () => {
    const root = mkdtempSync(join(tmpdir(), 'kmatrix-sweep-test-'));
    const names = ['kmatrix-vm-6.1--111-aaa', 'kmatrix-vm-6.1--222-bbb', 'unrelated-333'];
    for (const name of names) mkdirSync(join(root, name));
    try {
      const removed = sweepStaleTempDirs(root, names, (pid) => pid === 222);
      expect(removed).toEqual(['kmatrix-vm-6.1--111-aaa']);
      expect(readdirSync(root).sort()).toEqual(['kmatrix-vm-6.1--222-bbb', 'unrelated-333']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
