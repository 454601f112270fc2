import type { KernelLine } from './catalog.ts';
import type { LockedKernel, LockedPackage } from './lock.ts';
import { compareDebianVersions } from './debian-version.ts';
import { IsolatedApt, archiveOf } from './isolated-apt.ts';
import type { Mirrors } from './mirror.ts';

type Stanza = Record<string, string>;

/**
 * Resolves a catalog line to the newest kernel package of its suite, and to
 * the exact .debs that hold its vmlinuz and modules. Handles both layouts:
 * `linux-image-REL[-unsigned]` carrying everything, and the split
 * `linux-binary-REL` + `linux-modules-REL` behind a `linux-image-REL` meta package.
 */
export async function resolveKernelLine(line: KernelLine, cacheRoot: string, mirrors: Mirrors): Promise<LockedKernel> {
  const apt = new IsolatedApt(cacheRoot, line.suite, mirrors);
  await apt.update();
  const names = await apt.search(imageNameRegex(line));
  const candidates: { name: string; stanza: Stanza }[] = [];
  for (const name of names) {
    for (const stanza of await apt.show(name)) candidates.push({ name, stanza });
  }
  const newest = pickNewest(candidates, line);
  if (!newest) {
    throw new Error(
      `no ${line.flavour}-${line.arch} kernel of line ${line.line} in suite ${line.suite} ` +
        `(searched ${imageNameRegex(line)}); check images/kernels.json`,
    );
  }
  const release = releaseOf(newest.name);
  const resolvedLine = /^\d+\.\d+/.exec(newest.stanza.Version!)![0];
  const name = line.name ?? (line.line.includes('.') ? line.line : resolvedLine);
  const split = dependsOn(newest.stanza, `linux-binary-${release}`);
  const packageNames = split ? [`linux-binary-${release}`, `linux-modules-${release}`] : [newest.name];
  const packages: LockedPackage[] = [];
  for (const name of packageNames) {
    const stanza = name === newest.name ? newest.stanza : newestStanza(await apt.show(name));
    if (!stanza) throw new Error(`${name} (needed by ${newest.name}) is not in ${line.suite}`);
    packages.push(lockedPackage(name, stanza, line.suite));
  }
  return { name, line: resolvedLine, suite: line.suite, flavour: line.flavour, arch: line.arch, release, packages };
}

/** Kernel image package names of one line and flavour, e.g. linux-image-6.1.0-56-cloud-amd64-unsigned. */
export function imageNameRegex(line: KernelLine): string {
  const v = line.line.includes('.') ? line.line.replace('.', '\\.') : `${line.line}\\.[0-9]+`;
  return `^linux-image-${v}[.][0-9][^ ]*-${line.flavour}-${line.arch}(-unsigned)?$`;
}

/** `linux-image-6.1.0-56-cloud-amd64-unsigned` → `6.1.0-56-cloud-amd64`. */
export function releaseOf(packageName: string): string {
  return packageName.replace(/^linux-(image|binary|modules)-/, '').replace(/-unsigned$/, '');
}

/**
 * The newest candidate by package version. Between the signed and unsigned
 * builds of one release the unsigned one wins: the same kernel, smaller.
 */
export function pickNewest(
  candidates: { name: string; stanza: Stanza }[],
  line: KernelLine,
): { name: string; stanza: Stanza } | undefined {
  const ofLine = candidates.filter((c) => (c.stanza.Version ?? '').startsWith(`${line.line}.`));
  return ofLine.sort((a, b) => {
    const byVersion = compareDebianVersions(b.stanza.Version!, a.stanza.Version!);
    if (byVersion !== 0) return byVersion;
    return Number(b.name.endsWith('-unsigned')) - Number(a.name.endsWith('-unsigned'));
  })[0];
}

function newestStanza(stanzas: Stanza[]): Stanza | undefined {
  return stanzas.sort((a, b) => compareDebianVersions(b.Version ?? '0', a.Version ?? '0'))[0];
}

function dependsOn(stanza: Stanza, pkg: string): boolean {
  return (stanza.Depends ?? '').split(/[,|]/).some((d) => d.trim().split(/\s/)[0] === pkg);
}

function lockedPackage(name: string, stanza: Stanza, suite: string): LockedPackage {
  const { Version, Filename, SHA256, Size } = stanza;
  if (!Version || !Filename || !SHA256 || !Size) {
    throw new Error(`apt-cache show ${name} lacks Version/Filename/SHA256/Size`);
  }
  return { package: name, version: Version, archive: archiveOf(suite), filename: Filename, sha256: SHA256, size: Number(Size) };
}
