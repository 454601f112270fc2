import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ArchiveName, Mirrors } from './mirror.ts';

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** The archive a suite lives in. */
export function archiveOf(suite: string): ArchiveName {
  return suite.endsWith('-security') ? 'debian-security' : 'debian';
}

/**
 * An apt configuration of its own for one suite: own sources list, lists,
 * cache and an empty dpkg status, so resolving kernels of other suites never
 * touches the system's apt (adding suites there once broke apt for good).
 * apt still verifies the archive's signatures with Debian's keyring.
 */
export class IsolatedApt {
  readonly dir: string;
  readonly suite: string;
  readonly #mirrors: Mirrors;

  constructor(cacheRoot: string, suite: string, mirrors: Mirrors) {
    this.dir = join(cacheRoot, 'apt', suite);
    this.suite = suite;
    this.#mirrors = mirrors;
  }

  #options(): string[] {
    return [
      `-o`, `Dir::Etc::SourceList=${join(this.dir, 'sources.list')}`,
      `-o`, `Dir::Etc::SourceParts=/nonexistent`,
      `-o`, `Dir::State::Lists=${join(this.dir, 'lists')}`,
      `-o`, `Dir::Cache=${this.dir}`,
      `-o`, `Dir::State::status=${join(this.dir, 'status')}`,
      `-o`, `APT::Architecture=amd64`,
      `-o`, `Debug::NoLocking=1`,
    ];
  }

  async update(): Promise<void> {
    await mkdir(join(this.dir, 'lists', 'partial'), { recursive: true });
    await mkdir(join(this.dir, 'archives', 'partial'), { recursive: true });
    await writeFile(join(this.dir, 'status'), '');
    const mirror = this.#mirrors[archiveOf(this.suite)];
    await writeFile(
      join(this.dir, 'sources.list'),
      `deb [signed-by=${KEYRING}] ${mirror} ${this.suite} main\n`,
    );
    await execa('apt-get', [...this.#options(), '-q', 'update']);
  }

  /** Names of the packages in the suite matching an extended regex. */
  async search(regex: string): Promise<string[]> {
    const { stdout } = await execa('apt-cache', [...this.#options(), 'search', '--names-only', regex]);
    return stdout.split('\n').map((l) => l.split(' - ')[0]?.trim() ?? '').filter(Boolean);
  }

  /** The `apt-cache show` stanzas of a package, one per available version. */
  async show(pkg: string): Promise<Record<string, string>[]> {
    const { stdout } = await execa('apt-cache', [...this.#options(), 'show', pkg]);
    return parseStanzas(stdout);
  }
}

/** Parses deb822 stanzas (`Key: value`, continuation lines start with a space). */
export function parseStanzas(text: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) fields[last] += `\n${line.trim()}`;
      else {
        const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
        if (m) fields[(last = m[1]!)] = m[2]!;
      }
    }
    if (Object.keys(fields).length > 0) stanzas.push(fields);
  }
  return stanzas;
}
