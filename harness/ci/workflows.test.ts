// The GitHub workflows must pass actionlint (syntax, expressions, job graph,
// action inputs). The set-up installs actionlint into the cache's tools.
import { readdirSync } from 'node:fs';
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
