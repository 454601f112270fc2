import { availableParallelism, totalmem } from 'node:os';
import { describe, expect, test } from 'vitest';
import { tcgThreads, vmCapacity, vmRoom } from './run-pool.ts';

describe('how many VMs', () => {
  test('files at once: no more VMs than memory holds for the config\'s VM size, nor than cores', () => {
    const hostMiB = totalmem() / 2 ** 20;
    // A VM of half the host's memory: with as much again for the host, one at most.
    expect(vmCapacity({ memoryMiB: Math.ceil(hostMiB / 2), cpus: 2 }, {})).toBe(1);
    expect(vmCapacity({ memoryMiB: 256, cpus: 2 }, {})).toBe(Math.min(availableParallelism(), Math.floor(hostMiB / 512)));
    expect(vmCapacity({ memoryMiB: 1024, cpus: 2 }, { KMATRIX_MAX_VMS: '3' })).toBe(3);
  });

  test('VMs up at once: what memory holds, never fewer than the files at once', () => {
    expect(vmRoom(2, { memoryMiB: 256, cpus: 2 })).toBe(Math.max(2, Math.floor(totalmem() / 2 ** 20 / 512)));
    expect(vmRoom(3, { memoryMiB: 2 ** 20, cpus: 2 })).toBe(3);
  });

  test('one QEMU thread per VM only when the VMs at once have more vCPUs than the host has cores', () => {
    expect(tcgThreads(availableParallelism(), { memoryMiB: 1024, cpus: 2 })).toBe('single');
    expect(tcgThreads(1, { memoryMiB: 1024, cpus: availableParallelism() })).toBe('multi');
  });
});
