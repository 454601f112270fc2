// The fault suite: proves that what goes wrong in a guest fails the case
// that caused it, with the right message, in bounded time, and that nothing
// is left behind. Runs harness/faults/*.fault.ts on one kernel
// (KMATRIX_FAULT_KERNEL, default 6.1) and judges each fault case; every
// file's first case boots the VM and must pass, so the fault case's time is
// the fault's alone.
//
// Usage: npm run faults. Exit status 0 only when every fault was caught as
// expected and no QEMU, virtiofsd or temp dir of the run is left.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { newRunId, outDir } from '../util/paths.ts';
import { plainMessage, runVitestForReport, type VitestJsonReport } from '../scenario/vitest-json.ts';

interface Fault {
  file: string;
  fault: string;
  /** What the failure must say. */
  message: RegExp;
  /** The fault case must be over within this, from its start. */
  maxSeconds: number;
}

const FAULTS: Fault[] = [
  {
    file: 'panic.fault.ts',
    fault: 'kernel panic mid-case',
    message: /the VM died: kernel panic\n--- what the kernel said ---\npanic:\n.*Kernel panic - not syncing: sysrq triggered crash/,
    maxSeconds: 12, // 1 s before the crash, then at most ~10 s to see it
  },
  {
    file: 'warn.fault.ts',
    fault: 'kernel WARN mid-case',
    message: /the kernel reported warning during "a kernel WARN during an otherwise passing case":\nwarning:\n.*WARNING: CPU: 0 PID: 1 at kernel\/bpf\/kmatrix_fault\.c:1/,
    maxSeconds: 10,
  },
  {
    file: 'hang.fault.ts',
    fault: 'guest command hangs',
    message: /guest command timed out after 5000 ms and its session \d+ was killed in the guest: echo waiting; sleep 600/,
    maxSeconds: 15,
  },
  {
    file: 'loader-crash.fault.ts',
    fault: 'loader crashes (SIGABRT)',
    message: /kernel \S+: loader died of SIGABRT before events that never come/,
    maxSeconds: 30,
  },
  {
    file: 'loader-malformed.fault.ts',
    fault: 'loader prints a malformed line',
    message: /loader printed a line that is not JSON: "thread main panicked at src\/main\.rs:1:1"/,
    maxSeconds: 30,
  },
];

/** Files of the suite whose every case must pass: proofs of what the harness guarantees. */
const PROOFS = [
  { file: 'pool.fault.ts', fault: 'VM pool: reset between files, broken VM replaced', maxSeconds: 240 },
  { file: 'own-kernel.fault.ts', fault: 'own kernels: local build and URL pinned, booted; bad ones refused', maxSeconds: 240 },
];

interface Verdict {
  fault: string;
  ok: boolean;
  seconds: string;
  said: string;
  why?: string;
}

function judge(fault: Fault, report: VitestJsonReport): Verdict {
  const file = report.testResults.find((r) => basename(r.name) === fault.file);
  const base = { fault: fault.fault, seconds: '-', said: '' };
  if (!file) return { ...base, ok: false, why: 'the file did not run' };
  const [boot, faulty] = file.assertionResults;
  if (!boot || !faulty) return { ...base, ok: false, why: `expected a boot case and a fault case; ${file.message ?? ''}` };
  const message = plainMessage(faulty.failureMessages);
  const seconds = (faulty.duration ?? 0) / 1000;
  const said = message.split('\n').find((l) => l.trim()) ?? '';
  const verdict = { ...base, seconds: seconds.toFixed(1), said };
  if (boot.status !== 'passed') return { ...verdict, ok: false, why: `the boot case ${boot.status}: ${boot.failureMessages.join('\n')}` };
  if (faulty.status !== 'failed') return { ...verdict, ok: false, why: `the fault case ${faulty.status}: the fault went unseen` };
  if (!fault.message.test(message)) return { ...verdict, ok: false, why: `wrong message; expected ${fault.message}, got:\n${message}` };
  if (seconds > fault.maxSeconds) return { ...verdict, ok: false, why: `took ${seconds.toFixed(1)} s, more than ${fault.maxSeconds} s` };
  return { ...verdict, ok: true };
}

function judgeProof(proof: (typeof PROOFS)[number], report: VitestJsonReport): Verdict {
  const file = report.testResults.find((r) => basename(r.name) === proof.file);
  const base = { fault: proof.fault, seconds: '-', said: '' };
  if (!file) return { ...base, ok: false, why: 'the file did not run' };
  const seconds = file.assertionResults.reduce((sum, r) => sum + (r.duration ?? 0), 0) / 1000;
  const failed = file.assertionResults.filter((r) => r.status !== 'passed');
  const verdict = { ...base, seconds: seconds.toFixed(1), said: `${file.assertionResults.length - failed.length} of ${file.assertionResults.length} cases passed` };
  if (file.assertionResults.length === 0 || failed.length) {
    return { ...verdict, ok: false, why: failed.map((r) => `${r.title}: ${plainMessage(r.failureMessages)}`).join('\n') || (file.message ?? 'no cases ran') };
  }
  if (seconds > proof.maxSeconds) return { ...verdict, ok: false, why: `took ${seconds.toFixed(1)} s, more than ${proof.maxSeconds} s` };
  return { ...verdict, ok: true };
}

const runId = newRunId();
// The run's own temp dir (every VM's and case's temp dirs go under it), and
// its id in the environment of every process it starts, QEMU and virtiofsd
// included: what is left is this run's, whatever other runs do meanwhile.
// Short: virtiofsd's socket goes a few levels below it, and a socket path has 108 bytes at most.
const runTmp = await mkdtemp(join(tmpdir(), 'kmatrix-f-'));
// Interrupted: vitest stops its VMs (they remove their dirs); this one goes too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void rm(runTmp, { recursive: true, force: true }).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
}

/** This run's QEMU and virtiofsd processes, and the temp dirs under its own, right now. */
async function leftovers(): Promise<string[]> {
  const procs = await execa('pgrep', ['-a', '-f', 'qemu-system|virtiofsd'], { reject: false });
  const ours = [];
  for (const line of procs.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'))) {
    const environ = await readFile(`/proc/${line.split(' ')[0]}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`KMATRIX_RUN_ID=${runId}`)) ours.push(line);
  }
  const dirs = (await readdir(runTmp).catch(() => [])).map((d) => join(runTmp, d));
  return [...ours, ...dirs];
}

const jsonPath = join(outDir(), 'runs', runId, 'faults.json');
const report = await runVitestForReport({
  args: ['--config', 'harness/faults/vitest.config.ts'],
  jsonPath,
  env: { KMATRIX_FAULTS_JSON: jsonPath, KMATRIX_RUN_ID: runId, TMPDIR: runTmp },
  showOutput: true, // the fault cases fail by design; the verdicts below decide
});
const verdicts = [...FAULTS.map((f) => judge(f, report)), ...PROOFS.map((p) => judgeProof(p, report))];
// A VM's processes are reaped a moment after vitest exits: look again for a few seconds before calling anything a leftover.
let left: string[] = [];
for (let attempt = 0; attempt < 10; attempt++) {
  left = await leftovers();
  if (left.length === 0) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}

const width = Math.max(...verdicts.map((v) => v.fault.length));
console.log(`\n${'fault'.padEnd(width)}  verdict  seconds  message`);
for (const v of verdicts) {
  console.log(`${v.fault.padEnd(width)}  ${v.ok ? (PROOFS.some((p) => p.fault === v.fault) ? 'holds  ' : 'caught ') : 'MISSED '}  ${v.seconds.padStart(7)}  ${v.said.slice(0, 110)}`);
  if (v.why) console.log(`  ${v.why.replace(/\n/g, '\n  ')}`);
}
console.log(left.length ? `\nleft behind by the run:\n  ${left.join('\n  ')}` : '\nnothing left behind (no QEMU, virtiofsd or temp dir of this run)');
// Empty unless something was left, which stays for a look.
if (left.length === 0) await rm(runTmp, { recursive: true, force: true });
const caught = verdicts.filter((v) => v.ok).length;
console.log(`faults: ${caught} passed, ${verdicts.length - caught + (left.length ? 1 : 0)} failed`);
process.exit(caught === verdicts.length && left.length === 0 ? 0 : 1);
