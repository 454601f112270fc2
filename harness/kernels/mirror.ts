import { execa } from 'execa';

export type ArchiveName = 'debian' | 'debian-security';
export type Mirrors = Record<ArchiveName, string>;

/**
 * Where Debian packages come from: the mirror this machine's apt already uses,
 * so the harness follows a local mirror or proxy without configuration.
 * `KMATRIX_DEBIAN_MIRROR` / `KMATRIX_DEBIAN_SECURITY_MIRROR` override it
 * (URLs of the archive roots, ending in /debian and /debian-security).
 */
export async function findMirrors(env: NodeJS.ProcessEnv = process.env): Promise<Mirrors> {
  const fromEnv = {
    debian: env.KMATRIX_DEBIAN_MIRROR,
    'debian-security': env.KMATRIX_DEBIAN_SECURITY_MIRROR,
  };
  if (fromEnv.debian && fromEnv['debian-security']) {
    return { debian: trimSlash(fromEnv.debian), 'debian-security': trimSlash(fromEnv['debian-security']) };
  }
  const system = await systemMirrors();
  const debian = fromEnv.debian ?? system.debian;
  const security = fromEnv['debian-security'] ?? system['debian-security'] ?? (debian && siblingSecurity(debian));
  if (!debian || !security) {
    throw new Error(
      'no Debian mirror found in apt\'s sources; set KMATRIX_DEBIAN_MIRROR to the URL of a ' +
        'Debian archive root (…/debian) and KMATRIX_DEBIAN_SECURITY_MIRROR to its security archive (…/debian-security)',
    );
  }
  return { debian: trimSlash(debian), 'debian-security': trimSlash(security) };
}

/** Reads the repository URIs apt is configured with, by the suite they serve. */
async function systemMirrors(): Promise<Partial<Mirrors>> {
  const result = await execa('apt-get', ['indextargets', '--format', '$(REPO_URI) $(RELEASE) $(COMPONENT)'], {
    reject: false,
  });
  if (result.exitCode !== 0) return {};
  return mirrorsFromIndexTargets(result.stdout);
}

/**
 * Pure part of {@link systemMirrors}: `URI RELEASE [COMPONENT]` lines to
 * archive roots. Third-party repositories that also end in /debian (Docker's,
 * say) serve other components than Debian's `main`, so those are left out.
 */
export function mirrorsFromIndexTargets(text: string): Partial<Mirrors> {
  const found: Partial<Mirrors> = {};
  for (const line of text.split('\n')) {
    const [uri, release, component] = line.trim().split(/\s+/);
    if (!uri || !release || !/^https?:\/\//.test(uri)) continue;
    if (component && component !== 'main') continue;
    const root = trimSlash(uri);
    if (release.endsWith('-security') || root.endsWith('/debian-security')) found['debian-security'] ??= root;
    else if (root.endsWith('/debian')) found.debian ??= root;
  }
  return found;
}

function siblingSecurity(debianRoot: string): string {
  return debianRoot.replace(/\/debian$/, '/debian-security');
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
