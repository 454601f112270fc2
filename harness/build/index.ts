import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { projectRoot } from '../util/paths.ts';
import { detectBpfToolchain } from './toolchain.ts';

/** What a build produces; passed from the global set-up to every test worker. */
export const Artifacts = z.strictObject({
  /** Directory of the eBPF objects, one per `[[bin]]` of ebpf-rs/programs (`exec`, …). */
  ebpfDir: z.string(),
  /** The loader binary that runs in the guest. */
  loader: z.string(),
  toolchain: z.enum(['debian', 'nightly']),
  buildMs: z.number(),
});
export type Artifacts = z.infer<typeof Artifacts>;

export const ebpfCrate = join(projectRoot, 'ebpf-rs');
export const userspaceCrate = join(projectRoot, 'userspace-rs');

/**
 * Builds ebpf-rs for bpfel-unknown-none (bpf-linker links it; BTF comes from
 * ebpf-rs/.cargo/config.toml) and the loader for the host, whose guest shares
 * its libc. cargo is incremental, so a second call costs a second or two.
 */
export async function buildAll(options: { log?: (line: string) => void } = {}): Promise<Artifacts> {
  const started = performance.now();
  const toolchain = await detectBpfToolchain();
  const [cargo, ...cargoArgs] = toolchain.cargo;
  const run = async (cwd: string, args: string[]) => {
    const result = await execa(cargo!, [...cargoArgs, ...args], { cwd, env: toolchain.env, reject: false, all: true });
    if (result.exitCode !== 0) {
      throw new Error(`cargo ${args.join(' ')} failed in ${cwd} (exit ${result.exitCode}):\n${result.all}`);
    }
  };
  options.log?.(`building ebpf-rs and userspace-rs (${toolchain.kind} toolchain)`);
  await run(ebpfCrate, ['build', '--release', '--locked', '--target', 'bpfel-unknown-none', ...toolchain.bpfArgs]);
  await run(userspaceCrate, ['build', '--release', '--locked']);
  return {
    ebpfDir: join(ebpfCrate, 'target', 'bpfel-unknown-none', 'release'),
    loader: join(userspaceCrate, 'target', 'release', 'kmatrix-loader'),
    toolchain: toolchain.kind,
    buildMs: Math.round(performance.now() - started),
  };
}
