import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the aya-template layout gives without a config file. */
export interface DetectedLayout {
  /** `myapp-ebpf`: the eBPF crate. */
  ebpfCrate: string;
  /** `myapp`: the userspace crate beside it, if there is one. */
  userspaceCrate?: string;
}

/**
 * Finds the aya-template layout in `root`: a `NAME-ebpf` crate (the kernel
 * side), and `NAME` beside it (the userspace binary). Several `-ebpf`
 * crates, or none, cannot be guessed: the config file must say.
 */
export async function detectAyaLayout(root: string): Promise<DetectedLayout | { problem: string }> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const crates = new Set<string>();
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const manifest = await readFile(join(root, entry.name, 'Cargo.toml'), 'utf8').catch(() => undefined);
    if (manifest !== undefined) crates.add(entry.name);
  }
  const ebpf = [...crates].filter((name) => name.endsWith('-ebpf')).sort();
  if (ebpf.length === 0) return { problem: `no NAME-ebpf crate in ${root} (the aya-template layout); say where the eBPF crate is: ebpf: [{ crate: 'path' }]` };
  if (ebpf.length > 1) return { problem: `several eBPF crates in ${root} (${ebpf.join(', ')}); list the ones to build: ebpf: [{ crate: '…' }, …]` };
  const name = ebpf[0]!.slice(0, -'-ebpf'.length);
  return { ebpfCrate: ebpf[0]!, ...(crates.has(name) ? { userspaceCrate: name } : {}) };
}
