import { access, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * virtme-ng keeps its SSH state under `$HOME/.cache/virtme-ng/.ssh` and
 * authorizes `$HOME/.ssh/id_*.pub`. The harness runs vng with HOME set to a
 * directory of its own, so it never reads or writes the user's ~/.ssh, and it
 * creates that state up front, atomically, so parallel boots never race
 * on key generation.
 */
export interface SshIdentity {
  /** HOME for vng. */
  home: string;
  /** The client private key the guest's sshd accepts. */
  privateKeyPath: string;
}

export async function ensureSshIdentity(cacheRoot: string): Promise<SshIdentity> {
  const home = join(cacheRoot, 'vng-home');
  const sshDir = join(home, '.cache', 'virtme-ng', '.ssh');
  const privateKeyPath = join(sshDir, 'id_virtme');
  try {
    await access(privateKeyPath);
    return { home, privateKeyPath };
  } catch {
    /* create below */
  }
  await mkdir(join(home, '.cache', 'virtme-ng'), { recursive: true });
  const tmp = await mkdtemp(join(home, '.cache', 'virtme-ng', '.ssh-'));
  try {
    await mkdir(join(tmp, 'etc', 'ssh'), { recursive: true });
    await execa('ssh-keygen', ['-A', '-f', tmp]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kmatrix', '-f', join(tmp, 'id_virtme')]);
    await rename(tmp, sshDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // another run made it first
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { home, privateKeyPath };
}
