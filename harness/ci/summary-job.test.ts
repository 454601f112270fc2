// harness/ci/summary-job: a kernel job that died without a report must make
// the summary fail, naming the kernel (no VM, no Docker: cheap).
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { packageRoot } from '../util/paths.ts';
import { readLock } from '../kernels/lock.ts';
import { buildMatrix } from '../report/matrix.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kmatrix-summary-job-'));
  // What the kernel job of 6.1 uploads, as the summary job downloads it.
  const report = buildMatrix([{ scenario: 'exec', kernel: '6.1', status: 'pass', durationMs: 1000 }], ['6.1'], { '6.1': { 'task_struct.tgid': 2456 } }, { '6.1': [7000] });
  await mkdir(join(dir, 'reports', 'report-6.1', 'out', 'report'), { recursive: true });
  await writeFile(join(dir, 'reports', 'report-6.1', 'out', 'report', 'matrix.json'), JSON.stringify(report));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const summaryJob = (env: Record<string, string>) =>
  execa('bash', [join(packageRoot, 'harness', 'ci', 'summary-job'), join(dir, 'reports')], {
    env: { KMATRIX_OUT: join(dir, 'out'), GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md'), ...env },
    extendEnv: true,
    reject: false,
  });

test('fails naming every locked kernel whose report is missing', async () => {
  const locked = (await readLock(join(packageRoot, 'images', 'kernels.lock.json'))).kernels.map((k) => k.name);
  const missing = locked.filter((k) => k !== '6.1');
  expect(missing.length).toBeGreaterThan(0);
  const result = await summaryJob({ KERNELS: '' });
  expect(result.exitCode).not.toBe(0);
  expect(result.stderr).toContain(`no report from kernel${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);
  expect(await readFile(join(dir, 'step-summary.md'), 'utf8')).toContain(`No report from ${missing.map((k) => `\`${k}\``).join(', ')}`);
});

test('passes when narrowed explicitly to the kernels that ran, keeping their offsets and boots', async () => {
  const result = await summaryJob({ KERNELS: '6.1' });
  expect(result.stderr).not.toContain('FAIL');
  expect(result.exitCode).toBe(0);
  const merged = JSON.parse(await readFile(join(dir, 'out', 'report', 'matrix.json'), 'utf8'));
  expect(merged.offsets).toEqual({ '6.1': { 'task_struct.tgid': 2456 } });
  expect(merged.boots).toEqual({ '6.1': [7000] });
});
