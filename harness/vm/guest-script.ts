// What virtme-ng's init runs in the guest for the harness (`vng --exec`).
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { shellQuote } from '../util/shell.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import type { SshIdentity } from './ssh-identity.ts';

/** Printed by the guest's init script once userspace runs; SSH is probed after it. */
export const UP_MARKER = 'kmatrix-guest-up';
/** Printed instead, with the reason after it, when the guest cannot serve: the boot fails at once. */
export const FAILED_MARKER = 'kmatrix-guest-failed:';
/**
 * Printed before UP_MARKER, with a fact about the kernel after it, for what
 * it lacks that some programs need (BTF): the report carries it.
 */
export const NOTE_MARKER = 'kmatrix-guest-note:';
/** HOME of the guest's SSH sessions (sshd's `SetEnv`, see ssh-identity.ts) and of the agent. */
export const GUEST_HOME = '/run/kmatrix-home';
/** Where kmatrix-agent listens in the guest (userspace-rs/src/bin/kmatrix-agent.rs). */
export const AGENT_SOCKET = '/run/kmatrix-agent.sock';
/** The directories the script's services need: sshd's privilege separation directory, and GUEST_HOME. */
export const GUEST_DIRS = ['/run/sshd', GUEST_HOME];
const STANDARD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The environment of the agent and so of every command: sshd's, not the init's. */
const AGENT_ENV = `HOME=${GUEST_HOME} PATH=${STANDARD_PATH}`;

/**
 * What the guest's init runs once userspace is up.
 *
 * It configures the NIC that carries SSH and starts the guest's sshd
 * (harness/vm/ssh-identity.ts), side by side: QEMU's user-mode network
 * always gives the guest 10.0.2.15/24 with 10.0.2.2 as gateway and forwards
 * the SSH port there, so setting that is exact, and takes no DHCP.
 * (virtme-ng's own `--ssh` runs DHCP and a set-up script in bash, and makes
 * the init wait for both: a second under software emulation.) virtio_net
 * was loaded early, by the systemd-tmpfiles stand-in (harness/vm/fastboot);
 * modprobe here only waits for that load when it has not finished.
 *
 * The guest shares the host's root filesystem, /root included, and sshd
 * runs commands through root's shell, which reads ~/.bashrc: a host's pyenv
 * or nvm set-up there costs seconds per command under TCG. Sessions get a
 * home of their own instead (GUEST_HOME), which is writable too.
 *
 * kmatrix-agent starts here too, listening on AGENT_SOCKET, so that a
 * harness session reaches it through its SSH connection without starting
 * anything (see Guest.connect).
 *
 * Every process costs tens of ms under TCG, so this is mostly builtins.
 * Then it announces itself and holds the VM up until the host closes stdin,
 * which is the clean way to power off.
 */
export function guestScript(sshdConfigPath: string, agentPath?: string): string {
  const sshdArgs = `-f ${shellQuote(sshdConfigPath)} -E /run/kmatrix-sshd.log`;
  const fail = (reason: string) => `{ echo "${FAILED_MARKER} ${reason}"; exit 1; }`;
  return [
    // The init's PATH starts with its stand-ins (harness/vm/vm.ts), which are for it alone.
    `PATH=${STANDARD_PATH}`,
    // kmatrix-fastboot has made them, unless the VM boots without it.
    `${GUEST_DIRS.map((dir) => `[ -d ${dir} ]`).join(' && ')} || mkdir -p ${GUEST_DIRS.join(' ')}`,
    'nic=',
    'for dev in /sys/class/net/*; do [ "${dev##*/}" = lo ] || nic=${dev##*/}; done',
    '[ -n "$nic" ] || modprobe -q virtio_net',
    'for dev in /sys/class/net/*; do [ "${dev##*/}" = lo ] || nic=${dev##*/}; done',
    `[ -n "$nic" ] || ${fail('no network interface: the virtio_net module did not load')}`,
    'ip -batch - <<EOF &',
    'link set $nic up',
    'addr replace 10.0.2.15/24 dev $nic',
    'route replace default via 10.0.2.2',
    'EOF',
    'ip_configured=$!',
    // The agent's errors go to the console, where the harness sees them.
    ...(agentPath ? [`env -i ${AGENT_ENV} ${shellQuote(agentPath)} --listen ${AGENT_SOCKET} </dev/null >/dev/null 2>/dev/kmsg &`] : []),
    // sshd returns once it listens (it forks into the background after
    // binding). -r: no re-exec per connection, 100 ms less per login under
    // TCG; an sshd too new to know it is started without.
    `if ! /usr/sbin/sshd -r ${sshdArgs} 2>/dev/null && ! /usr/sbin/sshd ${sshdArgs}; then`,
    `  [ -x /usr/sbin/sshd ] || ${fail('no /usr/sbin/sshd on the host, which the guest shares: install openssh-server')}`,
    `  ${fail('sshd did not start: $(tail -n 5 /run/kmatrix-sshd.log 2>/dev/null)')}`,
    'fi',
    `wait $ip_configured || ${fail('ip could not configure $nic with 10.0.2.15/24')}`,
    // A kernel of the user's own build may come without BTF (CONFIG_DEBUG_INFO_BTF).
    `[ -e /sys/kernel/btf/vmlinux ] || echo "${NOTE_MARKER} no BTF (/sys/kernel/btf/vmlinux): fentry/fexit, LSM and BTF tracepoint programs cannot load"`,
    `echo ${UP_MARKER}`,
    'cat >/dev/null',
    '',
  ].join('\n');
}

/**
 * Writes the guest script next to the sshd config (both in the guest's view
 * of the host's files) and returns the command for `vng --exec`. A file, not
 * the script itself: vng puts --exec on the kernel command line, which is
 * 2048 bytes on x86, and a longer line hangs the boot without a word.
 * Named by its content: runs from other checkouts (other agent paths) share
 * the directory. Sourced (`.`), so the init's shell runs it without another
 * process.
 */
export async function installGuestScript(identity: SshIdentity, agentPath?: string): Promise<string> {
  const text = guestScript(identity.sshdConfigPath, agentPath);
  const path = join(identity.sshDir, `kmatrix-guest-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.sh`);
  if ((await readFile(path, 'utf8').catch(() => '')) !== text) await writeFileAtomic(path, text);
  return `. ${shellQuote(path)}`;
}
