// aya-log from the kernel side reaches the report: the `logs` program logs
// each exec of the probe with aya-log-ebpf, the loader forwards the records
// as `log` lines, and every exec the guest ran must be in them, with its pid
// and uid.
import { test, expect, annotateNote, generateExecs } from 'kmatrix';

const RUNS = 8;
const LOG_LINE = /^exec pid=(\d+) uid=(\d+) comm=(\S+)$/;

test('aya-log records of every exec, in order, with pid and uid', async ({ vm, startLoader, annotate }) => {
  const loader = await startLoader('logs', { attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' } });
  const truth = await generateExecs(vm.guest, { count: RUNS, ids: { uid: 4242, gid: 4343 } });
  // The program logs inline with each exec, so once the generator has
  // returned every record is in aya-log's buffer; stop() flushes it.
  const result = await loader.stop();

  const records = result.logs.map((log) => {
    const m = LOG_LINE.exec(log.message);
    expect(m, `kernel ${vm.kernel.name}: unexpected aya-log record ${JSON.stringify(log)}`).not.toBeNull();
    expect(log.level).toBe('info');
    return { pid: Number(m![1]), uid: Number(m![2]), comm: m![3] };
  });
  expect(records).toMatchTruth(truth, { kernel: vm.kernel.name, source: 'aya-log records', key: 'pid', fields: ['pid', 'uid', 'comm'] });
  expect(records.map((r) => r.pid), 'records arrive in exec order').toEqual(truth.map((t) => t.pid));
  await annotateNote(annotate, `${records.length} aya-log records, e.g. "${result.logs[0]!.message}"`);
});
