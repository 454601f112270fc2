// Proves that kmatrix works in another project exactly as the README's
// "Use it in your project" says: packs kmatrix, installs the tarball into a
// fresh copy of each examples/<name> outside this repository, and runs
// `npx kmatrix run` there, on the kernels of KERNELS (default: all locked).
// Nothing of the harness is edited for an example; the copy is removed
// afterwards. `node harness/examples/run.ts [name…]`.
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, packageRoot } from '../util/paths.ts';

const examplesDir = join(packageRoot, 'examples');
const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : (await readdir(examplesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);

// The npm running this script (npm test) runs the installs too, on this
// Node; outside npm, the one on PATH.
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  process.env.npm_execpath
    ? execa(process.execPath, [process.env.npm_execpath, ...args], { cwd, env, stdio: 'inherit', reject: false })
    : execa('npm', args, { cwd, env, stdio: 'inherit', reject: false });

const work = await mkdtemp(join(tmpdir(), 'kmatrix-examples-'));
let failed = 0;
try {
  const packed = await npm(['pack', '--silent', '--pack-destination', work], packageRoot);
  if (packed.exitCode !== 0) throw new Error(`npm pack of kmatrix failed (exit ${packed.exitCode})`);
  const tarball = join(work, (await readdir(work)).find((f) => f.endsWith('.tgz'))!);
  for (const name of names) {
    const started = performance.now();
    // A fresh copy, at the same path every run and with the sources' times
    // kept: cargo then finds its build of the project's own crates (kept
    // in the cache, below) up to date, where a new path would rebuild them.
    const project = join(tmpdir(), `kmatrix-example-${name}`);
    await rm(project, { recursive: true, force: true });
    await cp(join(examplesDir, name), project, { recursive: true, preserveTimestamps: true, filter: (src) => !/\/(target|node_modules|out)$/.test(src) });
    console.log(`example ${name}: npm install --save-dev ${tarball}`);
    const installed = await npm(['install', '--save-dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], project);
    if (installed.exitCode !== 0) throw new Error(`example ${name}: npm install of the kmatrix package failed (exit ${installed.exitCode})`);
    console.log(`example ${name}: npx kmatrix run`);
    // The copy is new every time; its cargo builds are kept between runs.
    const env = { CARGO_TARGET_DIR: join(cacheDir(), 'examples', name, 'target') };
    // `npm exec` is what `npx` runs.
    const run = await npm(['exec', '--', 'kmatrix', 'run'], project, env);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.log(`example ${name}: ${run.exitCode === 0 ? 'passed' : `FAILED (exit ${run.exitCode})`} in ${seconds} s, from a fresh copy`);
    if (run.exitCode !== 0) failed++;
    await rm(project, { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
