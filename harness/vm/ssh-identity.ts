import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { GUEST_HOME } from './guest-script.ts';
import { exists } from '../util/files.ts';

/**
 * The guest's sshd and the harness's key for it, in the cache, made once,
 * atomically, so that parallel boots never race on key generation: host
 * keys, a client key pair, and an sshd_config that the guest (which sees
 * the host's files) starts sshd with. vng runs with HOME set to the
 * directory holding them, so it never reads or writes the user's ~/.ssh.
 */
export interface SshIdentity {
  /** HOME for vng. */
  home: string;
  /** The client private key the guest's sshd accepts. */
  privateKeyPath: string;
  /** The guest sshd's configuration (a host path the guest sees too). */
  sshdConfigPath: string;
  /** The directory of all of these, which the guest sees too. */
  sshDir: string;
}

/**
 * Made for speed under software emulation: no PAM (its session modules
 * cost a login a few hundred ms), the SFTP server built in (no process per
 * upload), the harness's key the only way in.
 */
function sshdConfig(sshDir: string): string {
  return [
    '# kmatrix: the guest sshd (harness/vm/ssh-identity.ts)',
    'Port 22',
    `HostKey ${join(sshDir, 'etc', 'ssh', 'ssh_host_ed25519_key')}`,
    `AuthorizedKeysFile ${join(sshDir, 'id_virtme.pub')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'StrictModes no',
    'PidFile /run/kmatrix-sshd.pid',
    // Root's home is the host's /root, whose rc files bash would read for
    // every command (see guest-script.ts).
    `SetEnv HOME=${GUEST_HOME}`,
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

export async function ensureSshIdentity(cacheRoot: string): Promise<SshIdentity> {
  const home = join(cacheRoot, 'vng-home');
  const sshDir = join(home, '.cache', 'virtme-ng', '.ssh');
  const privateKeyPath = join(sshDir, 'id_virtme');
  const sshdConfigPath = join(sshDir, 'kmatrix_sshd_config');
  const ready = async () => {
    const text = sshdConfig(sshDir);
    const current = await readFile(sshdConfigPath, 'utf8').catch(() => '');
    if (current !== text) await writeFileAtomic(sshdConfigPath, text);
    return { home, privateKeyPath, sshdConfigPath, sshDir };
  };
  if (await exists(privateKeyPath)) return ready();
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
  return ready();
}
