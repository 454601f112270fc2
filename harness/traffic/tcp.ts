import * as z from 'zod';
import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from './guest-script.ts';

/** What really happened: one entry per connect, as both ends saw it. */
export type ConnectTruth = {
  /** The connecting process (its tgid) and thread, from the client itself. */
  pid: number;
  tid: number;
  /** The address and port the listener accepted the connection on. */
  daddr: string;
  dport: number;
  /** The peer port the listener saw: the connect's source port. */
  sport: number;
  /** The connecting thread's comm, read back from /proc/thread-self/comm. */
  comm: string;
};

/** The connecting process's name: its comm tells our connects from anyone else's. */
export const TCP_PROBE_COMM = 'kmx-tcp-probe';

/**
 * One Python process in the guest listens on `ports` and connects to each
 * port `perPort` times, alternately from its main thread and from a new
 * thread (so thread id and process id differ for half the connects). The
 * client records who connected (pid, tid, comm) and from which source
 * port; the listener records what it accepted (local address and port, peer
 * address and port). The truth is the two joined on the source port; a
 * connect the listener never saw is an error. Nothing else connects to
 * these ports, so per-port counts are exact.
 */
export async function generateConnects(guest: Guest, options: { ports: number[]; perPort: number }): Promise<ConnectTruth[]> {
  const script = `
set -eu
exec python3 - ${options.ports.join(',')} ${options.perPort} <<'PY'
import json, os, socket, sys, threading
# Threads copy their comm from the thread that starts them: name the main
# thread first, and every thread of the process carries the probe's name.
with open("/proc/self/comm", "w") as f:
    f.write("${TCP_PROBE_COMM}")
ports = [int(p) for p in sys.argv[1].split(",")]
per_port = int(sys.argv[2])
lock = threading.Lock()
accepted, connected = [], []
arrivals = threading.Semaphore(0)

def serve(listener):
    while True:
        conn, peer = listener.accept()
        local = conn.getsockname()
        with lock:
            accepted.append({"daddr": local[0], "dport": local[1], "saddr": peer[0], "sport": peer[1]})
        conn.close()
        arrivals.release()

for port in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    threading.Thread(target=serve, args=(s,), daemon=True).start()

def connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    with open("/proc/thread-self/comm") as f:
        comm = f.read().strip()
    with lock:
        connected.append({"pid": os.getpid(), "tid": threading.get_native_id(), "sport": c.getsockname()[1], "comm": comm})
    c.close()

for port in ports:
    for i in range(per_port):
        if i % 2 == 0:
            connect(port)
        else:
            t = threading.Thread(target=connect, args=(port,))
            t.start()
            t.join()
for _ in range(len(ports) * per_port):
    if not arrivals.acquire(timeout=30):
        sys.exit("a connect was never accepted by its listener")
for c in connected:
    print("connect", json.dumps(c))
for a in accepted:
    print("accept", json.dumps(a))
PY`;
  return parseConnectTruth(await runGuestScript(guest, 'connect generator', script, { timeout: 180_000 }));
}

const Connected = z.strictObject({ pid: z.number().int(), tid: z.number().int(), sport: z.number().int(), comm: z.string() });
const Accepted = z.strictObject({ daddr: z.string(), dport: z.number().int(), saddr: z.string(), sport: z.number().int() });

/** Joins the generator's `connect` and `accept` lines on the source port. */
export function parseConnectTruth(stdout: string): ConnectTruth[] {
  const connected: z.infer<typeof Connected>[] = [];
  const accepted = new Map<number, z.infer<typeof Accepted>>();
  for (const line of stdout.split('\n').filter((l) => l.trim())) {
    const m = /^(connect|accept) (\{.*\})$/.exec(line);
    const parsed = m && (m[1] === 'connect' ? Connected : Accepted).safeParse(JSON.parse(m[2]!));
    if (!parsed?.success) throw new Error(`connect generator printed an unexpected line: ${JSON.stringify(line)}`);
    if ('saddr' in parsed.data) accepted.set(parsed.data.sport, parsed.data);
    else connected.push(parsed.data as z.infer<typeof Connected>);
  }
  return connected.map((c) => {
    const a = accepted.get(c.sport);
    if (!a) throw new Error(`connect generator: the connect from port ${c.sport} (pid ${c.pid}) was not accepted by any listener`);
    return { pid: c.pid, tid: c.tid, daddr: a.daddr, dport: a.dport, sport: c.sport, comm: c.comm };
  });
}
