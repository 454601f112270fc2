// Shared by the task-* scenarios: run one task_struct-reading program in the
// guest while the exec generator runs, and hand back events, truth and the
// kernel's own offsets for the fields read.
import { type Guest, type LoaderSession, type LoaderSpec, type Fields, EXEC_PROBE_COMM, generateExecs, type ExecTruth } from 'kmatrix';

export const TASK_FIELDS = ['pid', 'tgid', 'ppid', 'static_prio', 'uid', 'comm'];

/** The globals route B's program reads its offsets from, and the fields they stand for. */
export const OFFSET_GLOBALS = {
  TASK_REAL_PARENT_OFF: 'task_struct.real_parent',
  TASK_TGID_OFF: 'task_struct.tgid',
  TASK_STATIC_PRIO_OFF: 'task_struct.static_prio',
};

const RUNS = 10;
const NICE = 7;

export interface TaskRun {
  events: Fields[];
  truth: Fields[];
  /** Offsets of the fields in this kernel's BTF, as the loader resolved them. */
  offsets: Record<string, number>;
}

export async function runTaskProgram(
  guest: Guest,
  startLoader: (program: string, spec: Omit<LoaderSpec, 'object'>) => Promise<LoaderSession>,
  program: string,
  extra: Partial<Omit<LoaderSpec, 'object'>> = {},
): Promise<TaskRun> {
  const loader = await startLoader(program, {
    attach: { sched_process_exec: 'tracepoint:sched/sched_process_exec' },
    ringbufs: { TASK_EVENTS: 'TaskEvent' },
    btfFields: Object.values(OFFSET_GLOBALS),
    ...extra,
  });
  // SCHED_RR makes the task's normal and effective priorities (its
  // neighbours in task_struct) differ from its static priority, so a read of
  // the wrong one cannot pass by coincidence.
  const truth: ExecTruth[] = await generateExecs(guest, { count: RUNS, ids: { uid: 4242, gid: 4343 }, nice: NICE, realtime: 1 });
  // The program runs inline with each exec, so once the generator has
  // returned every record is in the buffers; stop() drains them all.
  const result = await loader.stop();
  return {
    events: result.events.filter((e) => e.fields.comm === EXEC_PROBE_COMM).map((e) => e.fields),
    truth,
    offsets: result.ready.offsets ?? {},
  };
}
