// BPF LSM: a program on the file_open hook denies every open of a process
// named kmx-lsm-probe with EPERM and reports each decision. The guest runs
// such a process, which tries to open a file several times and records what
// each attempt really got (the errno the kernel returned, or success); the
// program's events must be exactly those attempts, from that process, and
// each attempt must have failed with the program's EPERM.
//
// The BPF LSM only runs where `bpf` is among the kernel's active LSMs.
// Debian's kernels from 6.1 on list it in CONFIG_LSM; 5.10's does not, and
// the VMs boot with each kernel's default list, so there the loader must
// refuse the attach cleanly instead.
import { test, expect, requireKernel, LoaderError, kernelAtLeast, runGuestScript } from 'kmatrix';

const BPF_IN_DEFAULT_LSMS = '6.1';
const ATTEMPTS = 5;
const EPERM = 1;
const SPEC = { attach: { file_open: 'lsm:file_open' }, ringbufs: { LSM_EVENTS: 'LsmEvent' } };

test('file_open denied for one process: each attempt reported, and each failed with EPERM', async ({ vm, kernel, skip, startLoader }) => {
  requireKernel({ kernel, skip }, BPF_IN_DEFAULT_LSMS, 'bpf in the default LSM list (CONFIG_LSM); the VMs boot without lsm=');
  const loader = await startLoader('lsm', SPEC);
  expect(loader.ready.programs).toEqual([{ name: 'file_open', type: 'lsm', attach: 'file_open' }]);
  // Everything it needs is imported before it renames itself: from then on
  // every open it makes is denied.
  const script = `
exec python3 - <<'PY'
import errno, json, os, threading
with open("/proc/self/comm", "w") as f:
    f.write("kmx-lsm-probe")
attempts = []
for _ in range(${ATTEMPTS}):
    try:
        os.close(os.open("/etc/hostname", os.O_RDONLY))
        attempts.append(0)
    except OSError as e:
        attempts.append(e.errno)
print(json.dumps({"pid": os.getpid(), "tid": threading.get_native_id(), "attempts": attempts}))
PY`;
  const out = await runGuestScript(vm.guest, 'opening files under the LSM', script, { timeout: 60_000 });
  const truth = JSON.parse(out.trim()) as { pid: number; tid: number; attempts: number[] };
  const result = await loader.stop();
  
  expect(truth.attempts, `kernel ${vm.kernel.name}: what each open returned (errno; 0 = opened)`).toEqual(Array(ATTEMPTS).fill(EPERM));
  const events = result.events.map((e) => e.fields);
  expect(events.filter((e) => e.pid !== truth.pid), 'events from other processes').toEqual([]);
  // One event per attempt; the events carry no per-attempt key, so they are
  // compared in order with the attempts.
  expect(events).toEqual(truth.attempts.map((errno) => ({ pid: truth.pid, tid: truth.tid, ret: -errno })));
});

test(`below ${BPF_IN_DEFAULT_LSMS}: the loader refuses lsm cleanly, naming the kernel's active LSMs`, async ({ vm, skip, startLoader }) => {
  skip(kernelAtLeast(vm.kernel.release, BPF_IN_DEFAULT_LSMS), `bpf is an active LSM on ${vm.kernel.name}: the program is tested in the case above`);
  const error = await startLoader('lsm', SPEC).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `kernel ${vm.kernel.name} attached an LSM program`).toBeInstanceOf(LoaderError);
  const line = (error as LoaderError).line;
  expect(line.stage).toBe('attach');
  expect(line.message).toMatch(/^attaching file_open to lsm file_open: the BPF LSM is not active: the kernel's LSMs are `[^`]+` \(boot it with lsm=…,bpf\)$/);
});
