import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KmatrixConfig, describeConfigIssues, type EbpfSource, type UserspaceCrate } from './schema.ts';
import { detectAyaLayout } from './detect.ts';
import { firstExisting } from '../util/files.ts';

/** The names a config file may have, first match wins. */
export const CONFIG_FILES = ['kmatrix.config.ts', 'kmatrix.config.mts', 'kmatrix.config.js', 'kmatrix.config.mjs'];

/** The config with every default applied and every path absolute. */
export interface ResolvedConfig {
  root: string;
  /** The file it came from; undefined when the layout was detected. */
  file?: string;
  ebpf: EbpfSource[];
  userspace: UserspaceCrate[];
  scenarios: string[];
  kernels: { catalog: string; lock: string };
  vm: { memoryMiB: number; cpus: number };
  /** The baseline file (absolute). */
  baseline: string;
  gate: { threshold: number; flaky: 'block' | 'allow' };
}

export class ConfigError extends Error {}

/** Reads `root`'s config file, or detects the aya-template layout when there is none. */
export async function loadConfig(root: string): Promise<ResolvedConfig> {
  const file = await firstExisting(CONFIG_FILES.map((name) => join(root, name)));
  let raw: unknown = {};
  if (file) {
    const module = (await import(pathToFileURL(file).href).catch((err: Error) => {
      throw new ConfigError(`${file} could not be loaded: ${err.message}`);
    })) as { default?: unknown };
    if (module.default === undefined) throw new ConfigError(`${file} has no default export; write \`export default defineConfig({ … })\``);
    raw = module.default;
  }
  return resolveConfig(root, raw, file);
}

/** Validates `raw` (a config file's default export) and fills in the defaults. */
export async function resolveConfig(root: string, raw: unknown, file?: string): Promise<ResolvedConfig> {
  const parsed = KmatrixConfig.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${file ?? 'the kmatrix config'} is not valid:\n${describeConfigIssues(parsed.error)}`);
  const config = parsed.data;
  let ebpf = config.ebpf;
  let userspace = config.userspace;
  if (!ebpf) {
    const layout = await detectAyaLayout(root);
    if ('problem' in layout) throw new ConfigError(`${file ? `${file} has no ebpf key and ` : 'no kmatrix.config.ts, and '}${layout.problem}`);
    ebpf = [{ crate: layout.ebpfCrate }];
    userspace ??= layout.userspaceCrate ? [{ crate: layout.userspaceCrate }] : [];
  }
  const at = (path: string) => resolve(root, path);
  return {
    root,
    file,
    ebpf: ebpf.map((source) =>
      'crate' in source ? { crate: at(source.crate) } : 'command' in source ? { command: source.command, objects: at(source.objects) } : { objects: at(source.objects) },
    ),
    userspace: (userspace ?? []).map((crate) => ({ ...crate, crate: at(crate.crate) })),
    scenarios: config.scenarios ?? ['scenarios/**/*.test.ts'],
    kernels: { catalog: at(config.kernels?.catalog ?? 'images/kernels.json'), lock: at(config.kernels?.lock ?? 'images/kernels.lock.json') },
    vm: { memoryMiB: config.vm?.memoryMiB ?? 1024, cpus: config.vm?.cpus ?? 2 },
    baseline: at(config.baseline ?? 'kmatrix.baseline.json'),
    gate: { threshold: config.gate?.threshold ?? 10, flaky: config.gate?.flaky ?? 'block' },
  };
}
