import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/** What the guest really did: one entry per connect. */
export type ConnectTruth = {
  pid: number;
  daddr: string;
  dport: number;
  comm: string;
};

/** The connecting program's name (a copy of bash): its comm tells our connects from anyone else's. */
export const TCP_PROBE_COMM = 'kmx-tcp-probe';

/**
 * Starts listeners on `ports` in the guest, then connects to each port
 * `perPort` times, one process per connect, and records each connect's pid
 * and destination. The listener says it is ready through a file rather than
 * being probed with a connect, so that the only connects to these ports are
 * the recorded ones and per-port counts are exact.
 */
export async function generateConnects(guest: Guest, options: { ports: number[]; perPort: number }): Promise<ConnectTruth[]> {
  const ports = options.ports.join(' ');
  const script = `
set -eu
mkdir -p /tmp/kmatrix && cd /tmp/kmatrix
rm -f listening
cp "$(command -v bash)" ${TCP_PROBE_COMM}
python3 - ${ports} <<'PY' &
import socket, sys, threading
socks = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(64)
    socks.append(s)
open("listening", "w").close()
def serve(s):
    while True:
        c, _ = s.accept()
        c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
threading.Event().wait(120)
PY
listener=$!
while [ ! -e listening ]; do sleep 0.1; done
for port in ${ports}; do
  i=0
  while [ "$i" -lt ${options.perPort} ]; do
    ./${TCP_PROBE_COMM} -c "exec 3<>/dev/tcp/127.0.0.1/$port" &
    pid=$!
    wait "$pid"
    echo "$pid 127.0.0.1 $port"
    i=$((i + 1))
  done
done
kill "$listener"`;
  return parseConnectTruth(await runGuestScript(guest, 'connect generator', script, { timeout: 180_000 }));
}

/** Parses the generator's lines: `PID DADDR DPORT`. */
export function parseConnectTruth(stdout: string): ConnectTruth[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const m = /^(\d+) (\d+\.\d+\.\d+\.\d+) (\d+)$/.exec(line.trim());
      if (!m) throw new Error(`connect generator printed an unexpected line: ${JSON.stringify(line)}`);
      return { pid: Number(m[1]), daddr: m[2]!, dport: Number(m[3]), comm: TCP_PROBE_COMM };
    });
}
