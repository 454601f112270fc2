/**
 * Mutants: copies of this repository's BPF programs with one realistic
 * defect each, the kind a change to a program can slip in. The suite is
 * only worth something if each of them fails a scenario.
 *
 * Each mutant is an exact text replacement in one file of ebpf-rs; the text
 * must occur exactly once, so a mutant that no longer fits the source fails
 * loudly instead of testing an unchanged program.
 */
export interface Mutant {
  name: string;
  /** The defect, in a few words. */
  defect: string;
  /** Path inside ebpf-rs. */
  file: string;
  find: string;
  replace: string;
  /** The scenario files (without .test.ts) that should kill it. */
  scenarios: string[];
}

export const MUTANTS: Mutant[] = [
  {
    name: 'tid-for-tgid',
    defect: 'reports the thread id where the process id belongs',
    file: 'programs/src/bin/tcp_connect.rs',
    find: '(*event).pid = (pid_tgid >> 32) as u32;',
    replace: '(*event).pid = pid_tgid as u32;',
    scenarios: ['tcp'],
  },
  {
    name: 'off-by-one-counter',
    defect: "a uid's first exec creates its counter at 0",
    file: 'programs/src/bin/exec.rs',
    find: 'EXECS_BY_UID.insert(uid, 1, BPF_NOEXIST.into()).is_err()',
    replace: 'EXECS_BY_UID.insert(uid, 0, BPF_NOEXIST.into()).is_err()',
    scenarios: ['exec'],
  },
  {
    name: 'drop-every-10th',
    defect: "every 10th exec of a uid is not sent to the ring buffer",
    file: 'programs/src/bin/exec.rs',
    find: '    count_exec(uid);\n',
    replace:
      '    count_exec(uid);\n' +
      '    if let Some(seen) = EXECS_BY_UID.get_ptr(uid) {\n' +
      '        if unsafe { *seen } % 10 == 0 {\n' +
      '            return 0;\n' +
      '        }\n' +
      '    }\n',
    scenarios: ['exec'],
  },
  {
    name: 'swap-uid-gid',
    defect: 'uid and gid written into each other\'s fields',
    file: 'programs/src/bin/exec.rs',
    find: '(*event).uid = uid;\n                (*event).gid = (uid_gid >> 32) as u32;',
    replace: '(*event).uid = (uid_gid >> 32) as u32;\n                (*event).gid = uid;',
    scenarios: ['exec'],
  },
  {
    name: 'port-byte-order',
    defect: 'the destination port left in network byte order',
    file: 'programs/src/bin/tcp_connect.rs',
    find: 'let dport = u16::from_be(dport);',
    replace: 'let dport = dport;',
    scenarios: ['tcp'],
  },
  {
    name: 'log-missing-field',
    defect: 'the aya-log record no longer carries the uid',
    file: 'programs/src/bin/logs.rs',
    find: 'info!(&ctx, "exec pid={} uid={} comm={}", pid, uid, comm);',
    replace: 'let _ = uid;\n    info!(&ctx, "exec pid={} comm={}", pid, comm);',
    scenarios: ['logs'],
  },
  {
    name: 'percpu-cpu0-only',
    defect: 'the per-CPU packet counters count only on CPU 0',
    file: 'programs/src/bin/packets.rs',
    find: 'fn count(map: &PerCpuArray<u64>, proto: u8) {\n',
    replace:
      'fn count(map: &PerCpuArray<u64>, proto: u8) {\n' +
      '    if unsafe { aya_ebpf::helpers::generated::bpf_get_smp_processor_id() } != 0 {\n' +
      '        return;\n' +
      '    }\n',
    scenarios: ['packets'],
  },
];

/** The source with the mutant's defect in it; throws unless its text occurs exactly once. */
export function applyMutant(mutant: Mutant, source: string): string {
  const at = source.indexOf(mutant.find);
  if (at < 0 || source.indexOf(mutant.find, at + 1) >= 0) {
    const times = at < 0 ? 'does not occur' : 'occurs more than once';
    throw new Error(`mutant ${mutant.name}: its text ${times} in ebpf-rs/${mutant.file}; update harness/mutants/catalog.ts to the program`);
  }
  return source.slice(0, at) + mutant.replace + source.slice(at + mutant.find.length);
}
