// Mutation check: builds each mutant of harness/mutants/catalog.ts, runs the
// scenarios that should catch it on one kernel (KMATRIX_MUTANT_KERNEL,
// default 6.1), and prints which scenario killed it and how. First the same
// scenarios run on the unchanged programs: a mutant "killed" by a scenario
// that fails anyway proves nothing.
//
// Usage: npm run mutants [-- name …]. Exit status 0 only when the baseline
// passes and every mutant is killed. Writes out/mutants.md.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withDir } from 'tmp-promise';
import { buildAll, buildEbpf, exportArtifacts, type Artifacts } from '../build/index.ts';
import { newRunId, outDir, packageRoot, userRoot } from '../util/paths.ts';
import { loadConfig } from '../config/load.ts';

/** The crate whose programs are mutated: kmatrix's own (this is a tool of its repository). */
const ebpfCrate = join(packageRoot, 'ebpf-rs');
import { plainMessage, runVitestForReport } from '../scenario/vitest-json.ts';
import { MUTANTS, applyMutant, type Mutant } from './catalog.ts';

const kernel = process.env.KMATRIX_MUTANT_KERNEL ?? '6.1';
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !MUTANTS.some((m) => m.name === name));
if (unknown.length) {
  console.error(`unknown mutant ${unknown.join(', ')}; known: ${MUTANTS.map((m) => m.name).join(', ')}`);
  process.exit(2);
}
const mutants = wanted.length ? MUTANTS.filter((m) => wanted.includes(m.name)) : MUTANTS;
const runId = newRunId();
const runDir = join(outDir(), 'runs', runId);

interface Outcome {
  failed: { scenario: string; message: string }[];
  ran: number;
}

/** Runs scenario files on the kernel with prebuilt artifacts; reports what failed and the first line of why. */
async function runScenarios(label: string, artifactsDir: string, scenarios: string[]): Promise<Outcome> {
  const json = join(runDir, `${label}.json`);
  // Only the JSON reporter: the matrix reporter would overwrite out/report with a mutant's results.
  const report = await runVitestForReport({
    args: ['--project', `kernel ${kernel}`, '--reporter=json', `--outputFile=${json}`, ...scenarios.map((s) => `scenarios/${s}.test.ts`)],
    jsonPath: json,
    env: { KERNELS: kernel, KMATRIX_PREBUILT: artifactsDir, KMATRIX_RUN_ID: `${runId}-${label}` },
  });
  const failed = report.testResults.flatMap((file) => {
    const scenario = file.name.replace(/^.*\/scenarios\//, '').replace(/\.test\.ts$/, '');
    const failures = file.assertionResults.filter((t) => t.status === 'failed').map((t) => plainMessage(t.failureMessages));
    if (file.message && !failures.length) failures.push(file.message);
    return failures.map((message) => ({ scenario, message: firstLine(message) }));
  });
  return { failed, ran: report.testResults.length };
}

/** The failure's first line, and the first detail under it (which field, which entry). */
function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const head = (lines[0] ?? text).replace(/^(Assertion)?Error: /, '');
  const detail = lines.slice(1).filter((l) => !l.startsWith('at ') && !l.startsWith('❯')).slice(0, 2).join(' ');
  return `${head}${detail ? ` — ${detail}` : ''}`.slice(0, 240);
}

const started = Date.now();
console.log(`mutants on kernel ${kernel}: building the loader and the unchanged programs`);
const built: Artifacts = await buildAll(await loadConfig(userRoot()));
const scenariosOf = (list: Mutant[]) => [...new Set(list.flatMap((m) => m.scenarios))].sort();

const rows: { mutant: Mutant; killedBy?: string; message: string }[] = [];
await withDir(
  async ({ path: work }) => {
    const baselineDir = join(work, 'baseline');
    await exportArtifacts(built, baselineDir);
    const baseline = await runScenarios('baseline', baselineDir, scenariosOf(mutants));
    if (baseline.failed.length || baseline.ran === 0) {
      console.error(`the unchanged programs already fail (or nothing ran), so no mutant can be judged:\n${baseline.failed.map((f) => `  ${f.scenario}: ${f.message}`).join('\n')}`);
      process.exit(1);
    }
    console.log(`baseline: ${scenariosOf(mutants).join(', ')} pass on ${kernel} with the unchanged programs`);

    // One copy of the crate, reset before each mutant, sharing one target
    // dir: only the mutated program's crate is rebuilt.
    const crate = join(work, 'ebpf-rs');
    const targetDir = join(ebpfCrate, 'target', 'mutants');
    for (const mutant of mutants) {
      await cp(ebpfCrate, crate, { recursive: true, filter: (src) => !src.startsWith(join(ebpfCrate, 'target')) });
      const file = join(crate, mutant.file);
      await writeFile(file, applyMutant(mutant, await readFile(file, 'utf8')));
      const ebpfDir = await buildEbpf(crate, { targetDir });
      const artifactsDir = join(work, mutant.name);
      await exportArtifacts({ ...built, ebpfDir }, artifactsDir);
      const outcome = await runScenarios(mutant.name, artifactsDir, mutant.scenarios);
      const killer = outcome.failed[0];
      rows.push({ mutant, killedBy: killer?.scenario, message: killer?.message ?? (outcome.ran ? 'all its scenarios passed' : 'no scenario ran') });
      console.log(`${mutant.name}: ${killer ? `killed by ${killer.scenario}: ${killer.message}` : 'SURVIVED'}`);
    }
  },
  { prefix: 'kmatrix-mutants-', unsafeCleanup: true },
);

const table = [
  `| mutant | defect | killed by | message (kernel ${kernel}) |`,
  '|---|---|---|---|',
  ...rows.map((r) => `| \`${r.mutant.name}\` | ${r.mutant.defect} | ${r.killedBy ?? '**survived**'} | ${r.message.replace(/\|/g, '\\|')} |`),
].join('\n');
await mkdir(outDir(), { recursive: true });
await writeFile(join(outDir(), 'mutants.md'), `${table}\n`);
const killed = rows.filter((r) => r.killedBy).length;
console.log(`\n${table}\n\n(${Math.round((Date.now() - started) / 1000)} s; table in ${join(outDir(), 'mutants.md')})`);
console.log(`mutants: ${killed} passed, ${rows.length - killed} failed`);
process.exit(killed === rows.length ? 0 : 1);
