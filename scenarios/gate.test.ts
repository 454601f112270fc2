// The two-way gate: `gate` calls bpf_loop, which kernels before 5.17 do not
// have. Where the kernel has it, the program must load and compute right;
// where it does not, it must fail cleanly: one protocol `error` line at the
// verify stage, carrying the verifier's log. The report says which applied.
import { test, expect, LoaderError, annotateNote, kernelAtLeast, EXEC_PROBE_COMM, generateExecs } from 'kmatrix';

const BPF_LOOP_SINCE = '5.17';
const RUNS = 5;
/** gate.rs runs 8 bpf_loop callbacks, each adding its index + 1: 1 + 2 + … + 8. */
const LOOPS = 8;
const SUM_OF_LOOP = (LOOPS * (LOOPS + 1)) / 2;

test(`bpf_loop: works from ${BPF_LOOP_SINCE}, rejected cleanly by the verifier before`, async ({ vm, startLoader, annotate }) => {
  const spec = {
    attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { GATE_EVENTS: 'GateEvent' },
  };
  if (!kernelAtLeast(vm.kernel.release, BPF_LOOP_SINCE)) {
    const error = await startLoader('gate', spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `kernel ${vm.kernel.name} (${vm.kernel.release}) loaded a bpf_loop program`).toBeInstanceOf(LoaderError);
    const line = (error as LoaderError).line;
    expect(line.stage).toBe('verify');
    // Which check trips first depends on the kernel: 5.10 refuses bpf_loop's
    // callback (a second function in func_info) before it reaches the helper
    // call itself. Either way the verifier's own words must come through.
    expect(line.verifierLog ?? '', 'the verifier log says why').toMatch(/invalid func|unknown func|bpf_loop|func_info|subprog/);
    const why = line.verifierLog!.split('\n').find((l) => /invalid func|unknown func|bpf_loop|func_info|subprog/.test(l));
    await annotateNote(annotate, `below ${BPF_LOOP_SINCE}: rejected at stage verify ("${why}")`);
    return;
  }
  const loader = await startLoader('gate', spec);
  // The probe runs as root without nice or setpriv: one exec per probe pid,
  // so each must have exactly one event.
  const truth = await generateExecs(vm.guest, { count: RUNS });
  const pids = new Set(truth.map((t) => t.pid));
  // The program runs inline with each exec, so once the generator has
  // returned every record is in the buffers; stop() drains them all.
  const result = await loader.stop();
  const ours = (events: typeof result.events) => events.filter((e) => pids.has(e.fields.pid as number));
  // The program reports every exec; the others are other processes'.
  expect(ours(result.events).map((e) => e.fields)).toMatchTruth(
    truth.map((t) => ({ pid: t.pid, sum: SUM_OF_LOOP })),
    { kernel: vm.kernel.name, source: 'RingBuf GATE_EVENTS', key: 'pid', fields: ['pid', 'sum'] },
  );
  await annotateNote(annotate, `from ${BPF_LOOP_SINCE}: loaded, bpf_loop ran (${EXEC_PROBE_COMM} × ${RUNS})`);
});
