// The GitHub workflows must pass actionlint (syntax, expressions, job graph,
// action inputs). The set-up installs actionlint into the cache's tools.
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { packageRoot } from '../util/paths.ts';
import { toolEnv } from '../util/toolchain.ts';
import { workflowFile } from '../init/templates.ts';

const workflowsDir = join(packageRoot, '.github', 'workflows');
const workflows = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));

describe('GitHub workflows', () => {
  test('there is at least one', () => {
    expect(workflows.length).toBeGreaterThan(0);
  });

  test.for(workflows)('%s passes actionlint', async (file) => {
    const result = await execa('actionlint', ['-no-color', join(workflowsDir, file)], { env: toolEnv(), reject: false });
    expect(result.stdout + result.stderr, `actionlint found problems in ${file}`).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

// Pinned actions: a tag can be moved to other code, a commit cannot. The
// comment says which release the commit is, for reading and for updates.
const PINNED_USES = /^\s*(?:- )?uses: [\w.-]+\/[\w.\/-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/;

/** Each job's steps of a workflow: its text split at `jobs:` and at each step's `- `. */
function jobsOf(text: string): Map<string, string[]> {
  const jobs = new Map<string, string[]>();
  const body = text.slice(text.search(/^jobs:$/m));
  for (const [, name, job] of body.matchAll(/^ {2}([\w-]+):\n((?:(?: {4}.*)?\n)*)/gm)) {
    jobs.set(name!, job!.split(/^ {6}- /m).slice(1));
  }
  return jobs;
}

/** The command of a `run:` step, a block scalar's lines joined. */
function runOf(step: string): string | undefined {
  const m = /^(?: {8})?run: (.*)$/m.exec(step);
  if (!m) return undefined;
  if (!/^[|>]/.test(m[1]!)) return m[1]!.trim();
  return step.slice(m.index + m[0].length).split('\n').filter((l) => /^ {10}/.test(l)).map((l) => l.trim()).join('\n');
}

// Runner set-up that cannot live in a script the developer runs: named here, nothing else.
const RUNNER_SETUP = ['Enable KVM for the runner'];

describe.for(workflows.filter((f) => f === 'kernel-matrix.yml'))('%s', (file) => {
  const text = readFileSync(join(workflowsDir, file), 'utf8');

  test('every action is pinned by a full commit SHA, its release in a comment', () => {
    const uses = text.split('\n').filter((l) => /^\s*(?:- )?uses:/.test(l));
    expect(uses.length).toBeGreaterThan(0);
    expect(uses.filter((l) => !PINNED_USES.test(l)), 'not pinned as `uses: owner/repo@<40 hex> # vX.Y.Z`').toEqual([]);
  });

  test('each job\'s work is one call of a harness/ci script, which exists and is executable', () => {
    const jobs = jobsOf(text);
    expect([...jobs.keys()]).toEqual(expect.arrayContaining(['plan', 'build', 'kernel', 'summary', 'release']));
    for (const [job, steps] of jobs) {
      const runs = steps.map((step) => ({ step, run: runOf(step) })).filter((s) => s.run !== undefined);
      const scripts = runs.filter((s) => /^bash harness\/ci\/[a-z-]+( |$)/.test(s.run!));
      expect(scripts.map((s) => s.run), `job ${job}: one run step calling harness/ci/…`).toHaveLength(1);
      const script = /^bash (harness\/ci\/[a-z-]+)/.exec(scripts[0]!.run!)![1]!;
      expect(() => accessSync(join(packageRoot, script), constants.X_OK), `job ${job}: ${script}`).not.toThrow();
      const others = runs.filter((s) => !scripts.includes(s)).map((s) => /name: (.*)/.exec(s.step)?.[1]);
      expect(others.filter((name) => !RUNNER_SETUP.includes(name ?? '')), `job ${job}: run steps besides its script`).toEqual([]);
    }
  });

  test('push runs only on the default branch and release tags, so a PR runs once; a tag runs the gate', () => {
    expect(text).toMatch(/^ {2}push:\n {4}branches: \[main\]\n {4}tags: \['v\*'\]\n {2}pull_request:/m);
    const release = jobsOf(text).get('release')!.join('');
    expect(release).toContain('bash harness/ci/gate-job');
    expect(text).toMatch(/^ {4}if: \$\{\{ !cancelled\(\) && startsWith\(github\.ref, 'refs\/tags\/v'\) \}\}$/m);
  });
});

// The scripts CI runs: a syntax error in one (a quote inside `${VAR:?…}`,
// say) only shows when that step runs, minutes into a job.
const scripts = ['.ci/run', ...['harness/bin', 'harness/ci'].flatMap((dir) => readdirSync(join(packageRoot, dir)).map((f) => `${dir}/${f}`))].filter(
  (path) => !path.endsWith('.ts'),
);

describe('CI shell scripts', () => {
  test.for(scripts)('%s parses (bash -n)', async (path) => {
    const result = await execa('bash', ['-n', join(packageRoot, path)], { reject: false });
    expect(result.stderr, `${path} has a syntax error`).toBe('');
    expect(result.exitCode).toBe(0);
  });
});

// The workflow `kmatrix init` writes into a user's project.
test('the workflow kmatrix init writes passes actionlint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kmatrix-init-workflow-'));
  try {
    await writeFile(join(dir, 'kmatrix.yml'), workflowFile());
    const result = await execa('actionlint', ['-no-color', join(dir, 'kmatrix.yml')], { env: toolEnv(), reject: false });
    expect(result.stdout + result.stderr, 'actionlint found problems in the init workflow').toBe('');
    expect(result.exitCode).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
