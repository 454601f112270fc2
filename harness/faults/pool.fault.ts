// The VM pool's two promises, on one VM of one kernel (a broker of its own,
// room for one VM, so that "the next file" gets the same VM or a new one
// for certain): what a file leaves behind is gone before the next file on
// that VM, and a file that breaks its VM fails alone, the next file passing
// on a fresh one. Unlike the *.fault.ts files around it, every case here
// must pass.
import { join } from 'node:path';
import { afterAll, inject, test, expect } from 'vitest';
import { VmBroker } from '../pool/broker.ts';
import { LeasedVm } from '../pool/lease.ts';
import { Vm } from '../vm/vm.ts';
import { cacheDir, runDir } from '../util/paths.ts';
import { shellQuote } from '../util/shell.ts';

const kernel = inject('kernelImage');
const artifacts = inject('artifacts');
let boots = 0;
const broker = await VmBroker.start({
  capacity: 1,
  loader: () => artifacts.loader,
  boot: (name, label) =>
    Vm.start(kernel, { accel: inject('accel'), cacheRoot: cacheDir(), agent: artifacts.agent, fastboot: artifacts.fastboot, consoleLogPath: join(runDir(), 'consoles', `pool-proof-${label}-${++boots}.log`) }),
});
afterAll(() => broker.close());
const lease = (file: string) => LeasedVm.acquire(broker.socketPath, kernel, file);

test('what a file leaves behind is gone before the next file on the same VM', async () => {
  // The guest's /tmp shows the host's: this run's names are its own.
  const tag = `kmx-pool-${process.pid}`;
  const first = await lease('leaves things behind');
  // Outside the agent's sessions (setsid), so that only the pool's reset can end them.
  const object = join(artifacts.ebpfDir, 'exec');
  const leave = [
    'setsid sleep 6001 </dev/null >/dev/null 2>&1 &',
    `setsid sh -c 'sleep 6002 | exec ${shellQuote(artifacts.loader)} --object ${shellQuote(object)} --attach sched_process_exec=tracepoint:sched/sched_process_exec' </dev/null >/tmp/${tag}-loader.out 2>&1 &`,
    'ip netns add kmx-leftover',
    'ip link add kmx-veth0 type veth peer name kmx-veth1',
    `mkdir -p /tmp/${tag}-mnt && mount -t tmpfs kmx /tmp/${tag}-mnt`,
    `echo x > /tmp/${tag}-file; echo y > /dev/shm/${tag}-shm`,
    // The loader is ready once its program is in the kernel.
    `for _ in $(seq 100); do grep -q ready /tmp/${tag}-loader.out && break; sleep 0.1; done; cat /tmp/${tag}-loader.out`,
  ].join('\n');
  const left = await first.guest.exec(leave, { timeout: 30_000 });
  expect(left.stdout, left.stderr).toMatch(/"kind":"ready"/);
  const released = await first.release();
  for (const what of [/processes: .*sleep/, /netns: kmx-leftover/, /links: .*kmx-veth0/, new RegExp(`mounts: .*/tmp/${tag}-mnt`), new RegExp(`files: .*/tmp/${tag}-file`), new RegExp(`files: .*/dev/shm/${tag}-shm`), /programs: \d+ sched_process_e/]) {
    expect(released.cleaned, `the reset after the file should have removed ${what}`).toMatch(what);
  }

  await using next = await lease('comes next');
  expect(next.vmId, 'one VM for the kernel: the next file gets the same one').toBe(first.vmId);
  const seen = await next.guest.exec(
    [
      // Bracketed first letters: the patterns must not match this shell's own command line.
      'pgrep -a -f "[s]leep 600[12]|[k]matrix-loader --object"',
      'ip netns list',
      'ip -o link show | grep kmx',
      `grep ${tag} /proc/self/mounts`,
      `ls -d /tmp/${tag}-* /dev/shm/${tag}-* 2>/dev/null`,
      `${shellQuote(artifacts.loader)} --census | grep -o '"programs":\\[[^]]*\\]'`,
    ].join('; '),
  );
  expect(seen.stdout, 'the next file sees nothing of the one before').toBe('"programs":[]\n');
});

test('a file that panics its kernel fails alone; the next file passes on a fresh VM', async () => {
  const doomed = await lease('panics the kernel');
  await doomed.guest.exec('sleep 0.5; echo c > /proc/sysrq-trigger', { timeout: 30_000 }).catch(() => {});
  await expect(doomed.release()).rejects.toThrow(/could not serve another one: the VM died during the file \(kernel panic\)/);

  await using next = await lease('after the panic');
  expect(next.vmId).not.toBe(doomed.vmId);
  expect(await next.guest.exec('echo alive')).toMatchObject({ stdout: 'alive\n', code: 0 });
  expect(broker.boots.map((b) => b.why)).toEqual(['first', 'replacement']);
});
