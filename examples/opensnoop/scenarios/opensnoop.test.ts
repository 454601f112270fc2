// opensnoop on every kernel line: its program reports every openat with the
// opener's ids, the file name and what the flags meant, and counts opens per
// process. The guest opens files in known ways from a shell and records
// what really happened (its pid, the access mode the kernel gave each file
// descriptor, whether the file was truncated); both kmatrix's loader and
// opensnoop's own binary are checked against that.
import { test, expect, runGuestScript, type Guest } from 'kmatrix';

const DIR = '/tmp/kmx-opensnoop';
/** How each file is opened: shell redirections, so one process (the shell) does every open. */
const OPENS = [
  { file: 'read', redirect: '3<' },
  { file: 'truncate', redirect: '3>' },
  { file: 'append', redirect: '3>>' },
  { file: 'readwrite', redirect: '3<>' },
];
/** Access modes as the kernel reports them in /proc/PID/fdinfo (flags & O_ACCMODE). */
const ACCESS = ['Read', 'Write', 'ReadWrite'];

type OpenTruth = {
  tgid: number;
  pid: number;
  uid: number;
  gid: number;
  comm: string;
  filename: string;
  kind: string;
  truncate: boolean;
};

/**
 * Opens each file from one shell and reports, for each, what the kernel
 * says happened: the shell's pid, the descriptor's access mode from fdinfo,
 * and the file's size before and after (truncated when it went to 0).
 */
async function openFiles(guest: Guest): Promise<OpenTruth[]> {
  const prepare = OPENS.map(({ file }) => `printf 0123456789 > ${DIR}/${file}`).join('\n');
  await runGuestScript(guest, 'creating the files', `mkdir -p ${DIR}\n${prepare}`, { timeout: 30_000 });
  const opens = OPENS.map(
    ({ file, redirect }) =>
      `before=$(stat -c %s ${DIR}/${file}); exec ${redirect} ${DIR}/${file}; ` +
      `echo "open ${DIR}/${file} $(sed -n 's/^flags:\\s*//p' /proc/$$/fdinfo/3) $before $(stat -c %s ${DIR}/${file})"; exec 3>&-`,
  );
  const script = ['echo "self $$ $(id -u) $(id -g) $(cat /proc/$$/comm)"', ...opens].join('\n');
  const stdout = await runGuestScript(guest, 'opening the files', script, { timeout: 30_000 });
  const self = /^self (\d+) (\d+) (\d+) (\S+)$/m.exec(stdout);
  if (!self) throw new Error(`the open generator did not say who it was:\n${stdout}`);
  const [, pid, uid, gid, comm] = self;
  return [...stdout.matchAll(/^open (\S+) ([0-7]+) (\d+) (\d+)$/gm)].map(([, filename, flags, before, after]) => ({
    tgid: Number(pid),
    pid: Number(pid),
    uid: Number(uid),
    gid: Number(gid),
    comm: comm!,
    filename: filename!,
    kind: ACCESS[Number.parseInt(flags!, 8) & 3]!,
    truncate: Number(before) > 0 && Number(after) === 0,
  }));
}

test("kmatrix's loader decodes OpenEvent and OPEN_TOTALS with no glue code", async ({ vm, startLoader }) => {
  const loader = await startLoader('opensnoop', {
    attach: { opensnoop: 'tracepoint:syscalls/sys_enter_openat' },
    ringbufs: { OPEN_EVENTS: 'OpenEvent' },
    maps: { OPEN_TOTALS: 'declared' },
  });
  const truth = await openFiles(vm.guest);
  expect(truth).toHaveLength(OPENS.length);
  const result = await loader.stop();

  const tgid = truth[0]!.tgid;
  const mine = result.events.map((e) => e.fields).filter((f) => f.tgid === tgid);
  const ours = mine.filter((f) => String(f.filename).startsWith(`${DIR}/`));
  // gid travels in the nested struct `ids`.
  const events = ours.map((f) => ({ ...f, gid: (f.ids as { gid: number }).gid }));
  expect(events).toMatchTruth(truth, {
    kernel: vm.kernel.name,
    source: 'RingBuf OPEN_EVENTS',
    key: 'filename',
    fields: ['tgid', 'pid', 'uid', 'gid', 'comm', 'filename', 'kind', 'truncate'],
  });
  // The nested struct carries the same uid as the flat field.
  for (const event of ours) expect((event.ids as { uid: number }).uid, `kernel ${vm.kernel.name}: ids.uid of ${event.filename}`).toBe(event.uid);
  // Every open of the shell, its own start-up's included, is counted once,
  // and writes are the opens that asked for write access.
  expect(result.maps.get('OPEN_TOTALS')).toHaveMapEntry(tgid, {
    opens: mine.length,
    last_flags: mine.at(-1)!.flags,
    writes: mine.filter((f) => f.kind !== 'Read').length,
  }, { kernel: vm.kernel.name });
});

test("opensnoop's own binary reports every open, and its live OPEN_TOTALS map agrees", async ({ vm, startProgram, objectPath, readLiveMaps }) => {
  const snoop = await startProgram('opensnoop', ['--object', objectPath('opensnoop')]);
  await snoop.waitForLine(/^opensnoop: attached/, { stream: 'stderr' });
  const truth = await openFiles(vm.guest);
  const tgid = truth[0]!.tgid;
  for (const { filename } of truth) await snoop.waitForLine(new RegExp(`^open tgid=${tgid} .* file=${filename}$`));

  // Read while it runs: the map lives as long as its program does.
  const live = await readLiveMaps('opensnoop', { OPEN_TOTALS: 'declared' });
  const exit = await snoop.stop('TERM');
  expect(exit, `kernel ${vm.kernel.name}: opensnoop should exit cleanly on SIGTERM`).toMatchObject({ code: 0, signal: null });
  expect(exit.stderrLines.at(-1)).toBe('opensnoop: exiting');
  expect(exit.lines.every((line) => line.startsWith('open ')), 'stdout carries events only').toBe(true);

  const printed = exit.lines.filter((line) => line.startsWith(`open tgid=${tgid} `));
  for (const { filename, pid, comm } of truth) {
    expect(printed, `kernel ${vm.kernel.name}: opensnoop's line for ${filename}`).toContain(
      printed.find((line) => line.endsWith(` file=${filename}`) && line.includes(` pid=${pid} `) && line.includes(` comm=${comm} `)),
    );
  }
  const totals = live.get('OPEN_TOTALS')!.entries.find((entry) => entry.key === tgid);
  expect(totals, `kernel ${vm.kernel.name}: no OPEN_TOTALS entry for the shell (tgid ${tgid}) while opensnoop ran`).toBeDefined();
  expect(totals!.value).toMatchObject({ opens: printed.length });
});
