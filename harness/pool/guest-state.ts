import type { Guest } from '../guest/guest.ts';
import { runGuestScript } from '../traffic/guest-script.ts';
import { shellQuote } from '../util/shell.ts';

/**
 * What one test file could leave in a shared VM for the next one to see, as
 * sets of names per kind. BPF programs and maps come from the loader's
 * census (the kernel's own id lists), so a program that stays attached
 * without any process holding it (a tc filter, a pin) is seen too.
 */
export interface GuestState {
  /** `pid comm` of every user process but the snapshot's own ancestry (zombies and kernel threads excluded). */
  processes: Set<string>;
  /** Interfaces of the root network namespace. */
  links: Set<string>;
  /** Named network namespaces (`ip netns`). */
  netns: Set<string>;
  /** Mount points. */
  mounts: Set<string>;
  /** Entries of /tmp, /var/tmp and /dev/shm. */
  files: Set<string>;
  /** Pins under /sys/fs/bpf. */
  pins: Set<string>;
  /** `id name` of every loaded BPF program. */
  programs: Set<string>;
  /** `id name` of every BPF map. */
  maps: Set<string>;
}

export type StateKind = keyof GuestState;
const KINDS: StateKind[] = ['processes', 'links', 'netns', 'mounts', 'files', 'pins', 'programs', 'maps'];

/**
 * Lists the guest's state as `kind<TAB>name` lines. POSIX sh with builtins
 * only (no process per /proc entry): under software emulation every fork
 * costs milliseconds. Its own ancestry (this shell, the sshd session that
 * runs it, …) is left out, so that the listing does not list itself.
 */
export const SNAPSHOT_SCRIPT = [
  // /proc/PID/stat, not status: dash's read takes a byte per system call,
  // and stat's one line is a fifth of status's; over 60 processes that was
  // 0.3 s of each snapshot under TCG. Its fields: `pid (comm) state ppid …`,
  // where comm may hold spaces and parentheses, hence the last ") ".
  "keep=\" \"",
  "p=$$",
  "while [ \"$p\" -gt 1 ] 2>/dev/null; do",
  "  keep=\"$keep$p \"",
  "  stat=",
  "  read -r stat 2>/dev/null < /proc/$p/stat",
  "  rest=${stat##*) }; rest=${rest#* }",
  "  p=${rest%% *}",
  "done",
  "for d in /proc/[0-9]*; do",
  "  pid=${d#/proc/}",
  "  case \"$keep\" in *\" $pid \"*) continue ;; esac",
  "  stat=",
  // (stderr first: a process that just exited takes its /proc entry with it)
  "  read -r stat 2>/dev/null < \"$d/stat\"",
  "  [ -z \"$stat\" ] && continue",
  "  name=${stat#*\\(}; name=${name%\\)*}",
  "  rest=${stat##*) }",
  "  state=${rest%% *}; rest=${rest#* }",
  "  ppid=${rest%% *}",
  "  [ \"$state\" = Z ] && continue",
  "  [ \"$pid\" = 2 ] || [ \"$ppid\" = 2 ] && continue",
  "  printf 'processes\\t%s %s\\n' \"$pid\" \"$name\"",
  "done",
  "for d in /sys/class/net/*; do printf 'links\\t%s\\n' \"${d##*/}\"; done",
  "for d in /run/netns/* /var/run/netns/*; do [ -e \"$d\" ] && printf 'netns\\t%s\\n' \"${d##*/}\"; done",
  "while read -r _ mountpoint _; do printf 'mounts\\t%s\\n' \"$mountpoint\"; done < /proc/self/mounts",
  "for d in /tmp/* /tmp/.[!.]* /var/tmp/* /var/tmp/.[!.]* /dev/shm/*; do [ -e \"$d\" ] || [ -L \"$d\" ] && printf 'files\\t%s\\n' \"$d\"; done",
  "for d in /sys/fs/bpf/*; do [ -e \"$d\" ] && printf 'pins\\t%s\\n' \"$d\"; done",
  "true",
].join('\n');

function emptyState(): GuestState {
  return Object.fromEntries(KINDS.map((k) => [k, new Set<string>()])) as unknown as GuestState;
}

/** Parses the snapshot's `kind<TAB>name` lines, the loader's census among them as `census<TAB>{…}`. */
export function parseGuestState(listing: string): GuestState {
  const state = emptyState();
  let censusLine = '';
  for (const line of listing.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const kind = line.slice(0, tab);
    if (kind === 'census') censusLine = line.slice(tab + 1);
    else if (KINDS.includes(kind as StateKind)) state[kind as StateKind].add(line.slice(tab + 1));
    else throw new Error(`guest state listing: unknown kind in line ${JSON.stringify(line)}`);
  }
  let census: { kind?: string; programs?: { id: number; name: string }[]; maps?: { id: number; name: string }[] };
  try {
    census = JSON.parse(censusLine) as typeof census;
  } catch {
    throw new Error(`the loader's census is not JSON: ${JSON.stringify(censusLine.slice(0, 300))}`);
  }
  if (census.kind !== 'census' || !census.programs || !census.maps) {
    throw new Error(`the loader's census failed: ${censusLine.slice(0, 500)}`);
  }
  for (const p of census.programs) state.programs.add(`${p.id} ${p.name}`);
  for (const m of census.maps) state.maps.add(`${m.id} ${m.name}`);
  return state;
}

/**
 * Takes the guest's state in one guest command, after running `before`
 * (a cleanup) if given; `loader` is the guest path of kmatrix-loader, whose
 * census lists the kernel's programs and maps.
 */
export async function snapshotGuest(guest: Guest, loader: string, before = ''): Promise<GuestState> {
  const script = [before, SNAPSHOT_SCRIPT, "printf 'census\\t'", `${shellQuote(loader)} --census`].join('\n');
  return parseGuestState(await runGuestScript(guest, 'listing the guest state', script, { timeout: 30_000 }));
}

/** What `now` has that `baseline` had not, per kind; empty kinds left out. */
export function leftovers(baseline: GuestState, now: GuestState): Partial<Record<StateKind, string[]>> {
  const extra: Partial<Record<StateKind, string[]>> = {};
  for (const kind of KINDS) {
    const added = [...now[kind]].filter((name) => !baseline[kind].has(name)).sort();
    if (added.length) extra[kind] = added;
  }
  return extra;
}

export function describeLeftovers(extra: Partial<Record<StateKind, string[]>>): string {
  return Object.entries(extra)
    .map(([kind, names]) => `${kind}: ${names!.slice(0, 20).join(', ')}${names!.length > 20 ? `, … (${names!.length})` : ''}`)
    .join('; ');
}

/**
 * The shell commands that remove what a file left: its processes (killed),
 * network namespaces, interfaces, mounts (innermost first), temp files and
 * BPF pins, plus tc and XDP attachments on the interfaces that stay.
 * Programs and maps go when nothing holds them any more.
 */
export function cleanupScript(extra: Partial<Record<StateKind, string[]>>, baselineLinks: Iterable<string>): string {
  const lines: string[] = [];
  const pids = (extra.processes ?? []).map((p) => p.split(' ')[0]!).filter((pid) => /^\d+$/.test(pid));
  if (pids.length) lines.push(`kill -KILL ${pids.join(' ')} 2>/dev/null`);
  for (const ns of extra.netns ?? []) lines.push(`ip netns delete ${shellQuote(ns)} 2>/dev/null`);
  for (const link of extra.links ?? []) lines.push(`ip link delete ${shellQuote(link)} 2>/dev/null`);
  for (const mount of [...(extra.mounts ?? [])].reverse()) lines.push(`umount -l ${shellQuote(mount)} 2>/dev/null`);
  for (const file of extra.files ?? []) lines.push(`rm -rf ${shellQuote(file)}`);
  for (const pin of extra.pins ?? []) lines.push(`rm -rf ${shellQuote(pin)}`);
  for (const link of baselineLinks) {
    lines.push(`tc qdisc del dev ${shellQuote(link)} clsact 2>/dev/null`);
    if (link !== 'lo') lines.push(`ip link set dev ${shellQuote(link)} xdp off 2>/dev/null`);
  }
  // Killed processes are gone once their parent reaped them; wait a little.
  if (pids.length) lines.push(`for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 ${pids.join(' ')} 2>/dev/null || break; sleep 0.2; done`);
  lines.push('true');
  return lines.join('\n');
}
