import { access, chmod, copyFile, mkdir, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { projectRoot } from '../util/paths.ts';
import { parseJsonFile } from '../util/json-file.ts';
import { detectBpfToolchain, type BpfToolchain } from './toolchain.ts';

/** What a build produces; passed from the global set-up to every test worker. */
export const Artifacts = z.strictObject({
  /** Directory of the eBPF objects, one per `[[bin]]` of ebpf-rs/programs (`exec`, …). */
  ebpfDir: z.string(),
  /** The loader binary that runs in the guest. */
  loader: z.string(),
  /** kmatrix-agent, which runs the harness's commands in the guest (harness/guest/agent.ts). */
  agent: z.string(),
  /** kmatrix-probe-target, the process uprobe scenarios probe (userspace-rs/src/bin/kmatrix-probe-target.rs). */
  probeTarget: z.string(),
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
  options.log?.(`building ebpf-rs and userspace-rs (${toolchain.kind} toolchain)`);
  const ebpfDir = await buildEbpf(ebpfCrate, { toolchain });
  await cargo(toolchain, userspaceCrate, ['build', '--release', '--locked']);
  return {
    ebpfDir,
    loader: join(userspaceCrate, 'target', 'release', 'kmatrix-loader'),
    agent: join(userspaceCrate, 'target', 'release', 'kmatrix-agent'),
    probeTarget: join(userspaceCrate, 'target', 'release', 'kmatrix-probe-target'),
    toolchain: toolchain.kind,
    buildMs: Math.round(performance.now() - started),
  };
}

/**
 * Builds an eBPF crate (a copy of ebpf-rs, say) for bpfel-unknown-none and
 * returns the directory of its objects. `targetDir` lets several copies
 * share compiled dependencies.
 */
export async function buildEbpf(crateDir: string, options: { toolchain?: BpfToolchain; targetDir?: string } = {}): Promise<string> {
  const toolchain = options.toolchain ?? (await detectBpfToolchain());
  const env = options.targetDir ? { CARGO_TARGET_DIR: options.targetDir } : {};
  await cargo(toolchain, crateDir, ['build', '--release', '--locked', '--target', 'bpfel-unknown-none', ...toolchain.bpfArgs], env);
  return join(options.targetDir ?? join(crateDir, 'target'), 'bpfel-unknown-none', 'release');
}

async function cargo(toolchain: BpfToolchain, cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  const [command, ...leading] = toolchain.cargo;
  const result = await execa(command!, [...leading, ...args], { cwd, env: { ...toolchain.env, ...env }, reject: false, all: true });
  if (result.exitCode !== 0) {
    throw new Error(`cargo ${args.join(' ')} failed in ${cwd} (exit ${result.exitCode}):\n${result.all}`);
  }
}

/**
 * Copies what the guest needs (the loader, the agent and every eBPF object) into `dir`,
 * so that CI can build once and hand the result to one job per kernel.
 */
export async function exportArtifacts(artifacts: Artifacts, dir: string): Promise<Artifacts> {
  const ebpfDir = join(dir, 'ebpf');
  await mkdir(ebpfDir, { recursive: true });
  for (const entry of await readdir(artifacts.ebpfDir, { withFileTypes: true })) {
    const from = join(artifacts.ebpfDir, entry.name);
    if (entry.isFile() && (await isElf(from))) await copyFile(from, join(ebpfDir, entry.name));
  }
  const binaries = { 'kmatrix-loader': artifacts.loader, 'kmatrix-agent': artifacts.agent, 'kmatrix-probe-target': artifacts.probeTarget };
  for (const [binary, from] of Object.entries(binaries)) {
    await copyFile(from, join(dir, binary));
    await chmod(join(dir, binary), 0o755);
  }
  const exported = {
    ...artifacts,
    ebpfDir,
    loader: join(dir, 'kmatrix-loader'),
    agent: join(dir, 'kmatrix-agent'),
    probeTarget: join(dir, 'kmatrix-probe-target'),
  };
  await writeFile(join(dir, 'artifacts.json'), `${JSON.stringify(exported, null, 2)}\n`);
  return exported;
}

/** Artifacts exported by {@link exportArtifacts} (`KMATRIX_PREBUILT=dir`), checked, instead of building. */
export async function prebuiltArtifacts(dir: string): Promise<Artifacts> {
  const path = join(dir, 'artifacts.json');
  const text = await readFile(path, 'utf8').catch(() => {
    throw new Error(`KMATRIX_PREBUILT=${dir}: no artifacts.json there; create it with \`npm run kmatrix -- build --out ${dir}\``);
  });
  const artifacts = {
    ...parseJsonFile(path, Artifacts, text),
    ebpfDir: join(dir, 'ebpf'),
    loader: join(dir, 'kmatrix-loader'),
    agent: join(dir, 'kmatrix-agent'),
    probeTarget: join(dir, 'kmatrix-probe-target'),
  };
  for (const binary of [artifacts.loader, artifacts.agent, artifacts.probeTarget]) {
    await access(binary).catch(() => {
      throw new Error(`KMATRIX_PREBUILT=${dir}: ${binary} is missing; export the build again with \`npm run kmatrix -- build --out ${dir}\``);
    });
  }
  return artifacts;
}

async function isElf(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === '\x7fELF';
  } finally {
    await handle.close();
  }
}
