import { readFile } from 'node:fs/promises';
import { filesUnder } from '../util/files.ts';
import { join } from 'node:path';

/** A program of an eBPF crate, as its source declares it: `#[tracepoint] pub fn opensnoop(…)`. */
export interface DeclaredProgram {
  /** The attribute: tracepoint, kprobe, xdp, … (the loader's attach kind, mostly). */
  kind: string;
  /** The function's name: the program's name in the object. */
  name: string;
  /** The source file, relative to the crate. */
  file: string;
}

const PROGRAM = /#\[(tracepoint|raw_tracepoint|btf_tracepoint|kprobe|kretprobe|uprobe|uretprobe|fentry|fexit|lsm|xdp|classifier|cgroup_skb|socket_filter)\b[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*pub\s+fn\s+([A-Za-z_][A-Za-z0-9_]*)/g;

/** The programs an eBPF crate's sources declare with aya-ebpf's attributes, in file order. */
export async function findPrograms(crateDir: string): Promise<DeclaredProgram[]> {
  const found: DeclaredProgram[] = [];
  for (const file of (await rustFiles(join(crateDir, 'src'))).sort()) {
    const text = await readFile(file, 'utf8');
    for (const [, kind, name] of text.matchAll(PROGRAM)) found.push({ kind: kind!, name: name!, file: file.slice(crateDir.length + 1) });
  }
  return found;
}

async function rustFiles(dir: string): Promise<string[]> {
  // A crate without src/ has no programs to find.
  return (await filesUnder(dir).catch(() => [])).filter((file) => file.endsWith('.rs'));
}
