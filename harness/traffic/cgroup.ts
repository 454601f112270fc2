import * as z from 'zod';
import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/**
 * Makes a cgroup v2 directory named `name` and returns its path: under the
 * guest's cgroup2 mount, or under one mounted at /run/kmatrix-cgroup2 when
 * there is none (a v1-only hierarchy).
 */
export async function createCgroup(guest: Guest, name: string): Promise<string> {
  const script = `
set -eu
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$root" ]; then
  root=/run/kmatrix-cgroup2
  mkdir -p $root
  mount -t cgroup2 none $root
fi
mkdir -p "$root/${name}"
echo "$root/${name}"`;
  return (await runGuestScript(guest, 'creating a cgroup', script, { timeout: 30_000 })).trim();
}

/** Removes a cgroup made by createCgroup, once nothing runs in it. */
export async function removeCgroup(guest: Guest, path: string): Promise<void> {
  await runGuestScript(guest, 'removing the cgroup', `rmdir '${path}'`, { timeout: 30_000 });
}

/** What a process in the cgroup saw of its own UDP datagrams over loopback. */
export interface CgroupUdpTruth {
  /** The cgroup the process was in, from its /proc/self/cgroup (the v2 line). */
  cgroup: string;
  /** What each sendto() returned: the bytes the kernel took. */
  sent: number[];
  /** The length of each datagram recvfrom() returned. */
  received: number[];
}

const Report = z.strictObject({ cgroup: z.string(), sent: z.array(z.number().int()), received: z.array(z.number().int()) });

/**
 * Runs one Python process in the cgroup (the shell moves itself there, then
 * execs it, so its sockets belong to the cgroup): it sends one UDP datagram
 * of each of `sizes` bytes to a socket of its own on 127.0.0.1 and receives
 * them, and reports what sendto() and recvfrom() returned.
 */
export async function udpInCgroup(guest: Guest, cgroupPath: string, sizes: number[]): Promise<CgroupUdpTruth> {
  const script = `
set -eu
echo $$ > '${cgroupPath}/cgroup.procs'
exec python3 - ${sizes.join(',')} <<'PY'
import json, socket, sys
sizes = [int(s) for s in sys.argv[1].split(",")]
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
receiver.settimeout(10)
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = [sender.sendto(b"k" * size, receiver.getsockname()) for size in sizes]
received = [len(receiver.recvfrom(65536)[0]) for _ in sizes]
with open("/proc/self/cgroup") as f:
    cgroup = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
print(json.dumps({"cgroup": cgroup, "sent": sent, "received": received}))
PY`;
  const out = await runGuestScript(guest, 'UDP in a cgroup', script, { timeout: 60_000 });
  const parsed = Report.safeParse(JSON.parse(out.trim().split('\n').at(-1) ?? 'null'));
  if (!parsed.success) throw new Error(`UDP in a cgroup: unexpected report ${JSON.stringify(out)}`);
  return parsed.data;
}
