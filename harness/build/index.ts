import { access, chmod, copyFile, mkdir, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { cacheDir, outDir, packageRoot } from '../util/paths.ts';
import type { EbpfSource, UserspaceCrate } from '../config/schema.ts';
import type { ResolvedConfig } from '../config/load.ts';
import { TargetSeed } from './seed.ts';
import { GuestToolsCache } from './guest-tools.ts';
import { parseJsonFile } from '../util/json-file.ts';
import { detectBpfToolchain, type BpfToolchain } from './toolchain.ts';
import { exists } from '../util/files.ts';

/** What a build produces; passed from the global set-up to every test worker. */
export const Artifacts = z.strictObject({
  /** Directory of the project's eBPF objects, each named as a scenario names it (`exec`, …). */
  ebpfDir: z.string(),
  /** The project's own userspace binaries (config `userspace`), by name: host paths the guest runs. */
  binaries: z.record(z.string(), z.string()),
  /** The loader binary that runs in the guest. */
  loader: z.string(),
  /** kmatrix-agent, which runs the harness's commands in the guest (harness/guest/agent.ts). */
  agent: z.string(),
  /** kmatrix-fastboot, which spares the guest's init udev and cold processes at boot (userspace-rs/src/bin/kmatrix-fastboot.rs). */
  fastboot: z.string(),
  /** kmatrix-probe-target, the process uprobe scenarios probe (userspace-rs/src/bin/kmatrix-probe-target.rs). */
  probeTarget: z.string(),
  toolchain: z.enum(['debian', 'nightly']),
  buildMs: z.number(),
});
export type Artifacts = z.infer<typeof Artifacts>;

/** kmatrix's own guest-side crate: the loader and the agent. */
export const userspaceCrate = join(packageRoot, 'userspace-rs');

/**
 * Builds what a run needs: the project's eBPF objects and userspace
 * binaries as its config says (cargo is incremental: a second call costs a
 * second or two), and kmatrix's loader and agent for the host, whose guest
 * shares its libc.
 */
export async function buildAll(config: ResolvedConfig, options: { log?: (line: string) => void } = {}): Promise<Artifacts> {
  const started = performance.now();
  const toolchain = await detectBpfToolchain();
  options.log?.(`building the eBPF objects, the userspace crates and kmatrix's loader (${toolchain.kind} toolchain)`);
  const objectDirs: string[] = [];
  for (const source of config.ebpf) objectDirs.push(await buildEbpfSource(source, config.root, toolchain));
  const ebpfDir = await gatherObjects(objectDirs, join(outDir(), 'build', 'objects'));
  const binaries: Record<string, string> = {};
  for (const crate of config.userspace) Object.assign(binaries, await buildUserspace(crate, toolchain));
  const toolsDir = await buildGuestTools(toolchain);
  return {
    ebpfDir,
    binaries,
    loader: join(toolsDir, 'kmatrix-loader'),
    agent: join(toolsDir, 'kmatrix-agent'),
    fastboot: join(toolsDir, 'kmatrix-fastboot'),
    probeTarget: join(toolsDir, 'kmatrix-probe-target'),
    toolchain: toolchain.kind,
    buildMs: Math.round(performance.now() - started),
  };
}

/** kmatrix's guest tools (loader, agent, fastboot, probe target): from the cache when these sources were built before. */
async function buildGuestTools(toolchain: BpfToolchain): Promise<string> {
  const cache = new GuestToolsCache(userspaceCrate, cacheDir());
  const found = await cache.find();
  if (found) return found;
  await seeded(new TargetSeed(userspaceCrate, cacheDir(), ['release']), () => cargo(toolchain, userspaceCrate, ['build', '--release', '--locked']));
  return cache.keep(join(userspaceCrate, 'target', 'release'));
}

async function buildEbpfSource(source: EbpfSource, root: string, toolchain: BpfToolchain): Promise<string> {
  if ('crate' in source) return buildEbpf(source.crate, { toolchain, seed: true });
  if ('command' in source) {
    const [command, ...args] = source.command;
    const result = await execa(command!, args, { cwd: root, reject: false, all: true, env: toolchain.env });
    if (result.exitCode !== 0) throw new Error(`the eBPF build command \`${source.command.join(' ')}\` failed in ${root} (exit ${result.exitCode}):\n${result.all}`);
  }
  const objects = await elfFilesIn(source.objects).catch(() => {
    throw new Error(`no eBPF objects at ${source.objects} (config ebpf: { objects }): build them first, or fix the path`);
  });
  if (objects.length === 0) throw new Error(`${source.objects} holds no ELF objects (config ebpf: { objects })`);
  return source.objects;
}

/**
 * One directory of every object, as scenarios name them: the only source's
 * own, or links to all of them when there are several (two objects of the
 * same name are an error: a scenario could not tell them apart).
 */
async function gatherObjects(dirs: string[], gathered: string): Promise<string> {
  if (dirs.length === 1) return dirs[0]!;
  await rm(gathered, { recursive: true, force: true });
  await mkdir(gathered, { recursive: true });
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    for (const name of await elfFilesIn(dir)) {
      const other = seen.get(name);
      if (other) throw new Error(`two eBPF objects are named ${name}: ${join(other, name)} and ${join(dir, name)}; rename one of the programs`);
      seen.set(name, dir);
      await symlink(join(dir, name), join(gathered, name));
    }
  }
  return gathered;
}

/** Builds a userspace crate for the host; its binaries by name, those of `bins` only if given. */
async function buildUserspace(crate: UserspaceCrate, toolchain: BpfToolchain): Promise<Record<string, string>> {
  const [command, ...leading] = toolchain.cargo;
  // The eBPF crate's build script and proc-macro dependencies are host
  // builds in the same target directory, compiled with RUSTC_BOOTSTRAP
  // (see bpfTargetEnv); cargo counts that variable in their fingerprints, so
  // without it here each build would recompile what the other just built.
  // It only allows unstable features: a stable crate compiles the same.
  const env = { ...toolchain.env, ...(toolchain.kind === 'debian' ? { RUSTC_BOOTSTRAP: '1' } : {}) };
  const result = await execa(command!, [...leading, 'build', '--release', '--message-format=json-render-diagnostics'], { cwd: crate.crate, env, reject: false, stderr: 'pipe' });
  if (result.exitCode !== 0) throw new Error(`cargo build --release failed in ${crate.crate} (exit ${result.exitCode}):\n${result.stderr}`);
  const built: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line) as { reason?: string; executable?: string | null; target?: { name?: string } };
    if (message.reason === 'compiler-artifact' && message.executable && message.target?.name) built[message.target.name] = message.executable;
  }
  if (!crate.bins) return built;
  const missing = crate.bins.filter((bin) => !(bin in built));
  if (missing.length) throw new Error(`${crate.crate} builds no binary named ${missing.join(', ')} (it builds: ${Object.keys(built).join(', ') || 'none'})`);
  return Object.fromEntries(crate.bins.map((bin) => [bin, built[bin]!]));
}

/**
 * Builds an eBPF crate (a copy of ebpf-rs, say) for bpfel-unknown-none and
 * returns the directory of its objects. `targetDir` lets several copies
 * share compiled dependencies.
 */
export async function buildEbpf(crateDir: string, options: { toolchain?: BpfToolchain; targetDir?: string; /** Start a first build from the cache's seed (see TargetSeed). */ seed?: boolean } = {}): Promise<string> {
  const toolchain = options.toolchain ?? (await detectBpfToolchain());
  const env = { ...(await bpfTargetEnv(toolchain, crateDir)), ...(options.targetDir ? { CARGO_TARGET_DIR: options.targetDir } : {}) };
  // --locked where the crate has its lock beside it: a project's own crate
  // inside a workspace has it at the workspace's root.
  const ownLock = await exists(join(crateDir, 'Cargo.lock'));
  const build = () => cargo(toolchain, crateDir, ['build', '--release', ...(ownLock ? ['--locked'] : []), '--target', 'bpfel-unknown-none', ...toolchain.bpfArgs], env);
  // The host profile holds the build scripts' dependencies.
  if (options.seed && ownLock && !options.targetDir) await seeded(new TargetSeed(crateDir, cacheDir(), ['release', 'bpfel-unknown-none/release']), build);
  else await build();
  return join(options.targetDir ?? (await cargoTargetDir(toolchain, crateDir)), 'bpfel-unknown-none', 'release');
}

/**
 * What aya-build would give cargo for the BPF target, so that a project's
 * eBPF crate needs no cargo config of its own: bpf-linker as the linker,
 * with BTF made from the debug info (which the loader decodes the
 * project's types from). Debian's stable rustc takes aya-ebpf's
 * `#![feature]`s only with RUSTC_BOOTSTRAP. A crate whose cargo config
 * sets the target up itself keeps its own: cargo would add both sets of
 * flags up, and bpf-linker refuses `--btf` twice.
 */
export async function bpfTargetEnv(toolchain: BpfToolchain, crateDir: string): Promise<NodeJS.ProcessEnv> {
  const bootstrap = toolchain.kind === 'debian' ? { RUSTC_BOOTSTRAP: '1' } : {};
  if (await configuresBpfTarget(crateDir)) return bootstrap;
  return {
    CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER: 'bpf-linker',
    CARGO_TARGET_BPFEL_UNKNOWN_NONE_RUSTFLAGS: '-C debuginfo=2 -C link-arg=--btf',
    ...bootstrap,
  };
}

/** Whether a cargo config that applies in `dir` (its own or an ancestor's) has a `[target.bpfel-unknown-none]`. */
async function configuresBpfTarget(dir: string): Promise<boolean> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    for (const name of ['config.toml', 'config']) {
      const text = await readFile(join(at, '.cargo', name), 'utf8').catch(() => '');
      if (text.includes('[target.bpfel-unknown-none]')) return true;
    }
    if (dirname(at) === at) return false;
  }
}

/** Where cargo puts `crateDir`'s build: its workspace's target directory. */
async function cargoTargetDir(toolchain: BpfToolchain, crateDir: string): Promise<string> {
  const [command, ...leading] = toolchain.cargo;
  const { stdout } = await execa(command!, [...leading, 'metadata', '--format-version', '1', '--no-deps', '--offline'], { cwd: crateDir, env: toolchain.env });
  return (JSON.parse(stdout) as { target_directory: string }).target_directory;
}

async function seeded(seed: TargetSeed, build: () => Promise<void>): Promise<void> {
  await seed.plant();
  await build();
  await seed.save();
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
  for (const name of await elfFilesIn(artifacts.ebpfDir)) await copyFile(join(artifacts.ebpfDir, name), join(ebpfDir, name));
  const own = { 'kmatrix-loader': artifacts.loader, 'kmatrix-agent': artifacts.agent, 'kmatrix-fastboot': artifacts.fastboot, 'kmatrix-probe-target': artifacts.probeTarget };
  for (const [binary, from] of Object.entries(own)) {
    await copyFile(from, join(dir, binary));
    await chmod(join(dir, binary), 0o755);
  }
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (const [name, path] of Object.entries(artifacts.binaries)) {
    await copyFile(path, join(dir, 'bin', name));
    await chmod(join(dir, 'bin', name), 0o755);
  }
  const binaries = Object.fromEntries(Object.keys(artifacts.binaries).map((name) => [name, join(dir, 'bin', name)]));
  const exported = {
    ...artifacts,
    ebpfDir,
    binaries,
    loader: join(dir, 'kmatrix-loader'),
    agent: join(dir, 'kmatrix-agent'),
    fastboot: join(dir, 'kmatrix-fastboot'),
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
  // Paths are taken relative to `dir`: CI moves it between jobs.
  const recorded = parseJsonFile(path, Artifacts, text);
  const artifacts = {
    ...recorded,
    ebpfDir: join(dir, 'ebpf'),
    binaries: Object.fromEntries(Object.keys(recorded.binaries).map((name) => [name, join(dir, 'bin', name)])),
    loader: join(dir, 'kmatrix-loader'),
    agent: join(dir, 'kmatrix-agent'),
    fastboot: join(dir, 'kmatrix-fastboot'),
    probeTarget: join(dir, 'kmatrix-probe-target'),
  };
  for (const binary of [artifacts.loader, artifacts.agent, artifacts.fastboot, artifacts.probeTarget, ...Object.values(artifacts.binaries)]) {
    await access(binary).catch(() => {
      throw new Error(`KMATRIX_PREBUILT=${dir}: ${binary} is missing; export the build again with \`npm run kmatrix -- build --out ${dir}\``);
    });
  }
  return artifacts;
}

/** The ELF files directly in `dir`: eBPF objects (cargo leaves .d files and dirs beside them). */
async function elfFilesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if ((entry.isFile() || entry.isSymbolicLink()) && (await isElf(join(dir, entry.name)))) names.push(entry.name);
  }
  return names.sort();
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
