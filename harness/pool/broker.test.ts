// The broker's policy, with stand-in VMs (no QEMU here; harness/faults/
// pool.fault.ts proves the same on real ones): one VM per kernel, a file
// waits for its kernel's VM, a VM that died or kept leftovers is replaced,
// an idle VM makes room for another kernel once its own files are done.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, test } from 'vitest';
import { VmBroker } from './broker.ts';
import type { Vm } from '../vm/vm.ts';

interface FakeVm {
  vm: Vm;
  die(reason: string): void;
  /** What the guest lists beyond its booted state (a leftover that no cleanup removes). */
  stuck: string[];
  stopped: boolean;
}

const CENSUS = 'census\t{"v":1,"kind":"census","programs":[],"maps":[]}';

function fakeVm(kernel: string, n: number): FakeVm {
  const died = new AbortController();
  const fake: FakeVm = { stuck: [], stopped: false, die: () => {}, vm: undefined as unknown as Vm };
  fake.die = (reason) => died.abort(Object.assign(new Error(`kernel ${kernel}: the VM died: ${reason}`), { reason, kernelLines: 'Kernel panic' }));
  fake.vm = {
    kernel: { name: kernel },
    ssh: { port: 10_000 + n, privateKeyPath: '/dev/null' },
    consoleLogPath: `/tmp/console-${kernel}-${n}.log`,
    bootMs: 1_000,
    notes: n === 1 ? ['no BTF (/sys/kernel/btf/vmlinux)'] : [],
    lost: died.signal,
    splatMark: () => 0,
    splatsSince: async () => [],
    guest: { exec: async () => ({ code: 0, signal: null, stderr: '', stdout: `links\tlo\n${fake.stuck.map((f) => `files\t${f}\n`).join('')}${CENSUS}\n` }) },
    stop: async () => void (fake.stopped = true),
  } as unknown as Vm;
  return fake;
}

/** A worker's side of one lease, over the broker's socket. */
async function lease(broker: VmBroker, kernel: string, own = false) {
  const socket = connect(broker.socketPath);
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
  socket.write(`${JSON.stringify({ type: 'lease', kernel, file: `scenarios/${kernel}.test.ts`, own })}\n`);
  const granted = await next();
  return {
    granted,
    next,
    release: async () => {
      socket.write(`${JSON.stringify({ type: 'release' })}\n`);
      for (;;) {
        const message = await next();
        if (message.type === 'released') {
          socket.destroy();
          return message;
        }
      }
    },
  };
}

let brokers: VmBroker[] = [];
afterEach(async () => {
  for (const b of brokers) await b.close();
  brokers = [];
});

async function start(capacity: number, plan: Record<string, number> = {}, idPrefix?: string, room?: number) {
  const vms: FakeVm[] = [];
  const labels: string[] = [];
  const broker = await VmBroker.start({
    capacity,
    room,
    loader: () => '/kmatrix-loader',
    idPrefix,
    boot: async (kernel, label) => {
      labels.push(label);
      const fake = fakeVm(kernel, vms.length);
      vms.push(fake);
      return fake.vm;
    },
  });
  for (const [kernel, files] of Object.entries(plan)) broker.expectFiles(kernel, files);
  brokers.push(broker);
  return { broker, vms, labels };
}

describe('VmBroker', () => {
  test('one VM per kernel: the second file of a kernel waits for it, and gets the same VM', async () => {
    const { broker, vms } = await start(2, { A: 2, B: 1 });
    const a1 = await lease(broker, 'A');
    const b1 = await lease(broker, 'B');
    const a2 = lease(broker, 'A');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(vms).toHaveLength(2); // not a third VM for A
    expect(await a1.release()).toMatchObject({ type: 'released' });
    expect((await a2).granted).toMatchObject({ type: 'granted', vmId: a1.granted.vmId, filesBefore: 1 });
    await (await a2).release();
    await b1.release();
    expect(broker.boots.map((b) => `${b.kernel} ${b.why}`)).toEqual(['A first', 'B first']);
  });

  test('a VM that dies during a file: the file is told at once and fails at release; the next file gets a new VM', async () => {
    const { broker, vms } = await start(1, { A: 2 });
    const first = await lease(broker, 'A');
    vms[0]!.die('kernel panic');
    expect(await first.next()).toMatchObject({ type: 'died', reason: 'kernel panic' });
    expect(await first.release()).toMatchObject({ broken: 'the VM died during the file (kernel panic)' });
    expect(vms[0]!.stopped).toBe(true);
    const second = await lease(broker, 'A');
    expect(second.granted.vmId).not.toBe(first.granted.vmId);
    await second.release();
    expect(broker.boots.map((b) => b.why)).toEqual(['first', 'replacement']);
  });

  test('what a file left and no cleanup removes breaks the VM, naming it', async () => {
    const { broker, vms } = await start(1, { A: 1 });
    const only = await lease(broker, 'A');
    vms[0]!.stuck.push('/tmp/immortal');
    expect(await only.release()).toMatchObject({ broken: 'the file left what could not be removed: files: /tmp/immortal' });
  });

  test('a file that asks for a VM of its own gets a fresh one, stopped after it, while the shared one waits', async () => {
    const { broker, vms } = await start(2, { A: 3 });
    await (await lease(broker, 'A')).release();
    const own = await lease(broker, 'A', true);
    expect(own.granted.vmId).not.toBe('A#1');
    vms[1]!.die('kernel panic'); // what such a file may do on purpose
    expect(await own.release()).not.toHaveProperty('broken');
    expect(vms[1]!.stopped).toBe(true);
    const shared = await lease(broker, 'A');
    expect(shared.granted).toMatchObject({ vmId: 'A#1', filesBefore: 1 });
    await shared.release();
    expect(broker.boots.map((b) => b.why)).toEqual(['first', 'own']);
  });

  test('an idle VM whose kernel has no files left makes room for the next kernel', async () => {
    const { broker, vms } = await start(1, { A: 1, B: 1 });
    await (await lease(broker, 'A')).release();
    const b = await lease(broker, 'B');
    expect(vms[0]!.stopped).toBe(true);
    await b.release();
    expect(broker.boots.map((x) => `${x.kernel} ${x.why}`)).toEqual(['A first', 'B first']);
  });

  test('a kernel whose files are all done: its VM stops at its last release', async () => {
    const { broker, vms } = await start(2, { A: 2, B: 1 });
    const a = await lease(broker, 'A');
    await (await lease(broker, 'B')).release();
    expect(vms[1]!.stopped).toBe(true); // B had one file
    await a.release();
    expect(vms[0]!.stopped).toBe(false); // A has one to come
    await (await lease(broker, 'A')).release();
    expect(vms[0]!.stopped).toBe(true);
  });

  test('a kernel the sequencer did not announce keeps its VM to the end', async () => {
    const { broker, vms } = await start(1);
    await (await lease(broker, 'A')).release();
    await (await lease(broker, 'A')).release();
    expect(vms).toHaveLength(1);
    expect(vms[0]!.stopped).toBe(false);
  });

  test('with room for more VMs than files at once, a kernel with files to come keeps its idle VM while another runs', async () => {
    // A's files split between two lanes (sequencer.ts), B's in between.
    for (const room of [2, undefined]) {
      const { broker, vms } = await start(1, { A: 2, B: 1 }, undefined, room);
      await (await lease(broker, 'A')).release();
      await (await lease(broker, 'B')).release();
      expect(vms[0]!.stopped).toBe(room === undefined); // no room: stopped to make room for B
      await (await lease(broker, 'A')).release();
      expect(broker.boots.map((x) => `${x.kernel} ${x.why}`)).toEqual(room ? ['A first', 'B first'] : ['A first', 'B first', 'A after eviction']);
    }
  });

  test('the retry pass: each file on a VM booted for it, its id and console told apart from the first pass\'s', async () => {
    const { broker, vms, labels } = await start(2, { A: 2 }, 'retry-');
    const first = await lease(broker, 'A', true);
    await first.release();
    const second = await lease(broker, 'A', true);
    await second.release();
    expect([first.granted.vmId, second.granted.vmId]).toEqual(['retry-A#1', 'retry-A#2']);
    expect(labels).toEqual(['retry-A-vm1', 'retry-A-vm2']);
    expect(vms.map((v) => v.stopped)).toEqual([true, true]);
    expect(broker.boots.map((b) => b.why)).toEqual(['own', 'own']);
    expect(broker.leases.map((l) => [l.vmId, l.console])).toEqual([['retry-A#1', '/tmp/console-A-0.log'], ['retry-A#2', '/tmp/console-A-1.log']]);
  });
});
