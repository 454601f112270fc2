import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { detectAyaLayout } from '../config/detect.ts';
import { packageRoot } from '../util/paths.ts';
import { findPrograms } from './find-programs.ts';
import { configFile, firstScenario, workflowFile } from './templates.ts';
import { exists } from '../util/files.ts';

export class InitError extends Error {}

/** What `init` did with each file: written, or left alone because it was there. */
export interface InitResult {
  wrote: string[];
  kept: string[];
  next: string;
}

/**
 * `kmatrix init` in an aya-template project: writes the config, a first
 * scenario for one of its programs, the kernel catalog and lock, and a
 * GitHub workflow. A file that exists is never touched, so running it twice
 * changes nothing.
 */
export async function init(root: string): Promise<InitResult> {
  const layout = await detectAyaLayout(root);
  if ('problem' in layout) throw new InitError(`kmatrix init needs the aya-template layout: ${layout.problem}`);
  const ebpfDir = join(root, layout.ebpfCrate);
  const object = await objectName(ebpfDir);
  const programs = await findPrograms(ebpfDir);
  if (programs.length === 0) {
    throw new InitError(`no program in ${layout.ebpfCrate}/src: kmatrix init looks for aya-ebpf's attributes (#[tracepoint], #[kprobe], #[xdp], …) on a pub fn`);
  }
  const files: [string, () => Promise<string>][] = [
    ['kmatrix.config.ts', async () => configFile(layout.ebpfCrate, layout.userspaceCrate)],
    [join('scenarios', `${object}.test.ts`), async () => firstScenario(programs[0]!, object)],
    [join('images', 'kernels.json'), () => readFile(join(packageRoot, 'images', 'kernels.json'), 'utf8')],
    [join('images', 'kernels.lock.json'), () => readFile(join(packageRoot, 'images', 'kernels.lock.json'), 'utf8')],
    [join('.github', 'workflows', 'kmatrix.yml'), async () => workflowFile()],
  ];
  const result: InitResult = { wrote: [], kept: [], next: 'npx kmatrix setup && npx kmatrix run' };
  for (const [file, content] of files) {
    const path = join(root, file);
    if (await exists(path)) {
      result.kept.push(file);
      continue;
    }
    await mkdir(dirname(path), { recursive: true });
    // wx: should the file appear meanwhile, it is still never overwritten.
    await writeFile(path, await content(), { flag: 'wx' });
    result.wrote.push(file);
  }
  return result;
}

/** The object's name: the eBPF crate's first [[bin]], else its package name (cargo's default bin). */
async function objectName(crateDir: string): Promise<string> {
  const manifest = await readFile(join(crateDir, 'Cargo.toml'), 'utf8');
  const bin = /\[\[bin\]\][^[]*?\bname\s*=\s*"([^"]+)"/.exec(manifest);
  const pkg = /\[package\][^[]*?\bname\s*=\s*"([^"]+)"/.exec(manifest);
  const name = bin?.[1] ?? pkg?.[1];
  if (!name) throw new InitError(`${join(crateDir, 'Cargo.toml')} names no [[bin]] and no package`);
  return name;
}
