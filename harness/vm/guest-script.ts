// What virtme-ng's init runs in the guest for the harness (`vng --exec`).
import { shellQuote } from '../util/shell.ts';

/** Printed by the guest's init script once userspace runs; SSH is probed after it. */
export const UP_MARKER = 'kmatrix-guest-up';
/** Printed instead, with the reason after it, when the guest cannot serve: the boot fails at once. */
export const FAILED_MARKER = 'kmatrix-guest-failed:';

/**
 * What the guest's init runs once userspace is up.
 *
 * It starts the guest's sshd (harness/vm/ssh-identity.ts) at once, in the
 * background, and configures the NIC that carries SSH: QEMU's user-mode
 * network always gives the guest 10.0.2.15/24 with 10.0.2.2 as gateway and
 * forwards the SSH port there, so setting that is exact, and takes no DHCP.
 * (virtme-ng's own `--ssh` runs DHCP and a set-up script in bash, and makes
 * the init wait for both: a second under software emulation.)
 *
 * The guest shares the host's root filesystem, /root included, and sshd runs
 * commands through root's shell, which reads ~/.bashrc: a host's pyenv or
 * nvm set-up there costs seconds per command under TCG and makes the guest's
 * environment depend on the host user. Those files are masked in the guest.
 *
 * Then it announces itself and holds the VM up until the host closes stdin,
 * which is the clean way to power off.
 */
export function guestScript(sshdConfigPath: string): string {
  const sshdArgs = `-f ${shellQuote(sshdConfigPath)} -E /run/kmatrix-sshd.log`;
  return [
    'for rc in /root/.bashrc /root/.bash_profile /root/.bash_login /root/.profile; do',
    '  [ -e "$rc" ] && mount --bind /dev/null "$rc"',
    'done',
    // sshd returns once it listens (it forks into the background after
    // binding). -r: no re-exec per connection, 100 ms less per login under
    // TCG; an sshd too new to know it is started without.
    'mkdir -p /run/sshd',
    `if ! /usr/sbin/sshd -r ${sshdArgs} 2>/dev/null && ! /usr/sbin/sshd ${sshdArgs}; then`,
    `  [ -x /usr/sbin/sshd ] || { echo "${FAILED_MARKER} no /usr/sbin/sshd on the host, which the guest shares: install openssh-server"; exit 1; }`,
    `  echo "${FAILED_MARKER} sshd did not start: $(tail -n 5 /run/kmatrix-sshd.log 2>/dev/null)"; exit 1`,
    'fi',
    'for dev in /sys/class/net/*; do',
    '  name=${dev##*/}; [ "$name" = lo ] && continue',
    '  ip link set "$name" up; ip addr replace 10.0.2.15/24 dev "$name"',
    'done',
    'ip route replace default via 10.0.2.2 2>/dev/null',
    `echo ${UP_MARKER}`,
    'cat >/dev/null',
  ].join('\n');
}
