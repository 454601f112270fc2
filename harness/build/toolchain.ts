import { execa } from 'execa';
import { toolEnv } from '../util/toolchain.ts';
import { exists } from '../util/files.ts';

/**
 * How to build for `bpfel-unknown-none`. Two set-ups work:
 * - `debian`: Debian's rustc ships a prebuilt `core` for the BPF targets
 *   (libstd-rust-web-dev-bpf), so a plain `cargo build --target` works;
 * - `nightly`: the usual Aya set-up, rustup nightly with rust-src, where
 *   `core` is built from source with `-Z build-std=core`.
 * `KMATRIX_RUST_TOOLCHAIN=debian|nightly` forces one; otherwise the first that is complete wins.
 */
export interface BpfToolchain {
  kind: 'debian' | 'nightly';
  /** The cargo command and leading arguments. */
  cargo: string[];
  /** Extra cargo build arguments for the BPF target. */
  bpfArgs: string[];
  env: NodeJS.ProcessEnv;
}

const DEBIAN_BPF_CORE = '/usr/lib/rustlib/bpfel-unknown-none/lib';

export async function detectBpfToolchain(env: NodeJS.ProcessEnv = process.env): Promise<BpfToolchain> {
  const forced = env.KMATRIX_RUST_TOOLCHAIN;
  if (forced && forced !== 'debian' && forced !== 'nightly') {
    throw new Error(`KMATRIX_RUST_TOOLCHAIN=${forced}: expected "debian" or "nightly"`);
  }
  const base = toolEnv(env);
  if (forced !== 'nightly' && (await exists(DEBIAN_BPF_CORE)) && (await exists('/usr/bin/cargo'))) {
    return {
      kind: 'debian',
      cargo: ['/usr/bin/cargo'],
      bpfArgs: [],
      // rustup's proxies may come first on PATH; pin Debian's rustc, whose sysroot holds the BPF core.
      env: { ...base, RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc' },
    };
  }
  if (forced !== 'debian' && (await nightlyHasRustSrc(base))) {
    return { kind: 'nightly', cargo: ['rustup', 'run', 'nightly', 'cargo'], bpfArgs: ['-Z', 'build-std=core'], env: base };
  }
  throw new Error(
    'no Rust toolchain that can build for bpfel-unknown-none: install Debian\'s rustc-web, cargo-web and ' +
      'libstd-rust-web-dev-bpf (harness/bin/setup does), or `rustup toolchain install nightly --component rust-src`',
  );
}

async function nightlyHasRustSrc(env: NodeJS.ProcessEnv): Promise<boolean> {
  const result = await execa('rustup', ['run', 'nightly', 'rustc', '--print', 'sysroot'], { env, reject: false });
  return result.exitCode === 0 && (await exists(`${result.stdout.trim()}/lib/rustlib/src/rust/library/core`));
}
