// `npm test`'s Rust step: kmatrix's own crates formatted, clippy-clean with
// warnings denied, and their unit tests passing. Run before the matrix, so a
// lint fails in seconds rather than after the boots.
//
// Usage: node harness/ci/rust-checks.ts   (non-zero on the first failure)
import { join } from 'node:path';
import { execa } from 'execa';
import { bpfTargetEnv, buildEbpf } from '../build/index.ts';
import { TargetSeed } from '../build/seed.ts';
import { detectBpfToolchain, type BpfToolchain } from '../build/toolchain.ts';
import { cacheDir, packageRoot } from '../util/paths.ts';

interface CrateChecks {
  dir: string;
  /** cargo arguments of each check, in order. */
  checks: string[][];
  /** The target subdirectories these checks compile into, seeded like a build's (see TargetSeed). */
  seeded: string[];
}

const CRATES: CrateChecks[] = [
  {
    // The programs only build for the BPF target, which has no test harness.
    dir: 'ebpf-rs',
    checks: [
      ['fmt', '--check'],
      ['clippy', '--locked', '--target', 'bpfel-unknown-none', '--', '-D', 'warnings'],
    ],
    seeded: ['debug', 'bpfel-unknown-none/debug'],
  },
  {
    dir: 'userspace-rs',
    checks: [
      ['fmt', '--check'],
      ['clippy', '--locked', '--all-targets', '--', '-D', 'warnings'],
      ['test', '--locked'],
    ],
    seeded: ['debug'],
  },
];

async function checkCrate(crate: CrateChecks, toolchain: BpfToolchain, ebpfObjects: string): Promise<void> {
  const dir = join(packageRoot, crate.dir);
  const [command, ...leading] = toolchain.cargo;
  const env = {
    ...toolchain.env,
    ...(await bpfTargetEnv(toolchain, dir)),
    // Debian's cargo finds its clippy and rustfmt on PATH, where rustup's proxies may come first.
    ...(toolchain.kind === 'debian' ? { PATH: `/usr/bin:${toolchain.env.PATH}` } : {}),
    // The loader's tests decode the real objects' DWARF (userspace-rs/src/test_objects.rs).
    KMATRIX_EBPF_OBJECTS: ebpfObjects,
  };
  const seed = new TargetSeed(dir, cacheDir(), crate.seeded);
  await seed.plant();
  for (const check of crate.checks) {
    const started = performance.now();
    const result = await execa(command!, [...leading, ...check], { cwd: dir, env, reject: false, all: true });
    const what = `cargo ${check.join(' ')} in ${crate.dir}`;
    if (result.exitCode !== 0) {
      const hint = /no such command|not installed|is not installed/.test(result.all ?? '')
        ? '\n(Debian: apt-get install rust-web-clippy rustfmt-web, which harness/bin/setup installs; rustup: rustup component add clippy rustfmt)'
        : '';
      throw new Error(`${what} failed (exit ${result.exitCode}):\n${result.all}${hint}`);
    }
    console.error(`rust: ${what}: ok in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  await seed.save();
}

try {
  const toolchain = await detectBpfToolchain();
  // The same build the matrix uses (cargo makes the second one free), from the cache's seed on a fresh checkout.
  const ebpfObjects = await buildEbpf(join(packageRoot, 'ebpf-rs'), { toolchain, seed: true });
  for (const crate of CRATES) await checkCrate(crate, toolchain, ebpfObjects);
} catch (err) {
  console.error(`rust: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
