// The tracing attach kinds, each against what the guest's probe target
// reports it did: kmatrix-probe-target prints its own pid and thread id,
// the value each call of `kmatrix_probe_target(x)` returned, and what each
// pread(2) asked for and got back (the last read asks for more than the file
// holds, so its return value is not its count), and the position each
// lseek(2) returned. The programs of `probes`
// report what they see of the same calls; events must equal that truth,
// field by field, and nothing else of the target may show up.
import { test, expect, LoaderError, type DecodedEvent, runProbeTarget } from 'kmatrix';

const CALLS = 6;
const READS = 5;
/** ProbeEvent.kind, as kmatrix_common::probe_kind numbers them. */
const KIND = { kretprobe: 1, fentry: 2, fexit: 3, raw_tracepoint: 4, uprobe: 5, uretprobe: 6 } as const;

/** The events of one program, from one process. */
function eventsOf(events: DecodedEvent[], kind: number, pid: number) {
  return events.filter((e) => e.fields.kind === kind && e.fields.pid === pid).map((e) => e.fields);
}

test('kretprobe and raw tracepoint: lseek return values and the exec', async ({ vm, startLoader, probeTarget }) => {
  const target = probeTarget;
  const loader = await startLoader('probes', {
    attach: { lseek_ret: 'kretprobe:__x64_sys_lseek', exec_raw: 'raw_tracepoint:sched_process_exec' },
    ringbufs: { PROBE_EVENTS: 'ProbeEvent' },
    maps: { PROBE_DROPPED: 'declared' },
  });
  expect(loader.ready.programs).toEqual([
    { name: 'lseek_ret', type: 'kretprobe', attach: '__x64_sys_lseek' },
    { name: 'exec_raw', type: 'raw_tracepoint', attach: 'sched_process_exec' },
  ]);
  const truth = await runProbeTarget(vm.guest, target, { calls: 0, reads: READS });
  const result = await loader.stop();
  const kernel = vm.kernel.name;

  expect(eventsOf(result.events, KIND.kretprobe, truth.pid)).toMatchTruth(
    truth.seeks.map((s) => ({ pid: truth.pid, tid: truth.tid, ret: s.ret })),
    { kernel, source: 'kretprobe __x64_sys_lseek', key: 'ret', fields: ['pid', 'tid', 'ret'] },
  );
  // The exec of the target: one event, from the target's own pid, with the
  // comm the kernel gave it at exec and old_pid (the pid before exec, the
  // same for a single-threaded process).
  const execs = result.events.filter((e) => e.fields.kind === KIND.raw_tracepoint && e.fields.comm === truth.execComm).map((e) => e.fields);
  expect(execs).toMatchTruth(
    [{ pid: truth.pid, tid: truth.tid, arg: truth.pid, comm: truth.execComm }],
    { kernel, source: 'raw_tracepoint sched_process_exec', key: 'pid', fields: ['pid', 'tid', 'arg', 'comm'] },
  );
  expect(result.maps.get('PROBE_DROPPED')).toHaveMapEntry(0, 0, { kernel });
});

test('fentry and fexit: read arguments and return values, through the kernel BTF', async ({ vm, startLoader, probeTarget }) => {
  const target = probeTarget;
  const loader = await startLoader('probes', {
    attach: { vfs_read_entry: 'fentry:vfs_read', vfs_read_exit: 'fexit:vfs_read' },
    ringbufs: { PROBE_EVENTS: 'ProbeEvent' },
    maps: { PROBE_DROPPED: 'declared' },
  });
  const truth = await runProbeTarget(vm.guest, target, { calls: 0, reads: READS });
  const result = await loader.stop();
  const kernel = vm.kernel.name;
  expect(truth.reads.some((r) => r.ret !== r.count), 'a read returned less than it asked for').toBe(true);

  expect(eventsOf(result.events, KIND.fentry, truth.pid)).toMatchTruth(
    truth.reads.map((r) => ({ pid: truth.pid, tid: truth.tid, arg: r.count })),
    { kernel, source: 'fentry vfs_read', key: 'arg', fields: ['pid', 'tid', 'arg'] },
  );
  expect(eventsOf(result.events, KIND.fexit, truth.pid)).toMatchTruth(
    truth.reads.map((r) => ({ pid: truth.pid, tid: truth.tid, arg: r.count, ret: r.ret })),
    { kernel, source: 'fexit vfs_read', key: 'arg', fields: ['pid', 'tid', 'arg', 'ret'] },
  );
  expect(result.maps.get('PROBE_DROPPED')).toHaveMapEntry(0, 0, { kernel });
});

test('uprobe and uretprobe: arguments and return values of a function in a binary', async ({ vm, startLoader, probeTarget }) => {
  const target = probeTarget;
  const loader = await startLoader('probes', {
    attach: {
      target_entry: `uprobe:${target}:kmatrix_probe_target`,
      target_ret: `uretprobe:${target}:kmatrix_probe_target`,
    },
    ringbufs: { PROBE_EVENTS: 'ProbeEvent' },
    maps: { PROBE_DROPPED: 'declared' },
  });
  const truth = await runProbeTarget(vm.guest, target, { calls: CALLS, reads: 0 });
  const result = await loader.stop();
  const kernel = vm.kernel.name;
  // Nothing but the target calls the function: every event must be its.
  const all = (kind: number) => result.events.filter((e) => e.fields.kind === kind).map((e) => e.fields);
  expect(all(KIND.uprobe)).toMatchTruth(
    truth.calls.map((c) => ({ pid: truth.pid, tid: truth.tid, arg: c.x })),
    { kernel, source: 'uprobe kmatrix_probe_target', key: 'arg', fields: ['pid', 'tid', 'arg'] },
  );
  expect(all(KIND.uretprobe)).toMatchTruth(
    truth.calls.map((c) => ({ pid: truth.pid, tid: truth.tid, ret: c.ret })),
    { kernel, source: 'uretprobe kmatrix_probe_target', key: 'ret', fields: ['pid', 'tid', 'ret'] },
  );
  expect(result.maps.get('PROBE_DROPPED')).toHaveMapEntry(0, 0, { kernel });
});

test('an attach point the kernel lacks is a clean attach error naming program, kind and target', async ({ startLoader, probeTarget }) => {
  const target = probeTarget;
  const cases = [
    { program: 'vfs_read_entry', point: 'fentry:kmatrix_no_such_function', reason: /unknown BTF type|kmatrix_no_such_function/ },
    { program: 'lseek_ret', point: 'kretprobe:kmatrix_no_such_function', reason: /No such file|not found|ENOENT|Invalid argument/i },
    { program: 'exec_raw', point: 'raw_tracepoint:kmatrix_no_such_tracepoint', reason: /No such file|not found|ENOENT/i },
    { program: 'target_entry', point: `uprobe:${target}:kmatrix_no_such_symbol`, reason: /unknown symbol/ },
  ];
  for (const { program, point, reason } of cases) {
    const error = await startLoader('probes', { attach: { [program]: point }, ringbufs: { PROBE_EVENTS: 'ProbeEvent' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `${program}=${point} attached`).toBeInstanceOf(LoaderError);
    const line = (error as LoaderError).line;
    expect(line.stage, line.message).toBe('attach');
    const [kind, where] = [point.slice(0, point.indexOf(':')), point.slice(point.indexOf(':') + 1)];
    expect(line.message).toContain(`attaching ${program} to ${kind} ${where}`);
    expect(line.message).toMatch(reason);
  }
});
