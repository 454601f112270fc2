// What virtme-ng's init runs in the guest for the harness (`vng --exec`).

/** Printed by the guest's init script once userspace runs; SSH is probed after it. */
export const UP_MARKER = 'kmatrix-guest-up';

/**
 * What the guest's init runs once userspace is up.
 *
 * First it (re)configures the NIC that carries SSH. virtme-ng's init brings
 * up `eth0` and runs DHCP while udev is still renaming devices; when udev
 * wins (`enp0s9: renamed from eth0`) the lease is never applied and SSH can't
 * be reached. Slirp always hands out 10.0.2.15 with 10.0.2.2 as gateway and
 * forwards the SSH port there, so setting that address on whatever the NIC
 * is now called is exact, and harmless when DHCP did succeed.
 *
 * The guest shares the host's root filesystem, /root included, and sshd runs
 * commands through root's shell, which reads ~/.bashrc: a host's pyenv or
 * nvm set-up there costs seconds per command under TCG and makes the guest's
 * environment depend on the host user. Those files are masked in the guest.
 *
 * Then it announces itself and holds the VM up until the host closes stdin,
 * which is the clean way to power off.
 */
export const GUEST_SCRIPT = [
  'for rc in /root/.bashrc /root/.bash_profile /root/.bash_login /root/.profile; do',
  '  [ -e "$rc" ] && mount --bind /dev/null "$rc"',
  'done',
  'for dev in /sys/class/net/*; do',
  '  name=${dev##*/}; [ "$name" = lo ] && continue',
  '  ip link set "$name" up; ip addr replace 10.0.2.15/24 dev "$name"',
  'done',
  'ip route replace default via 10.0.2.2 2>/dev/null',
  `echo ${UP_MARKER}`,
  'cat >/dev/null',
].join('\n');
