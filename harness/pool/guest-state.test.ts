import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { shellQuote } from '../util/shell.ts';
import { cleanupScript, describeLeftovers, leftovers, parseGuestState, SNAPSHOT_SCRIPT } from './guest-state.ts';

const census = (programs: string[], maps: string[] = []) =>
  'census\t' +
  JSON.stringify({ v: 1, kind: 'census', programs: programs.map((p, i) => ({ id: i + 1, name: p })), maps: maps.map((m, i) => ({ id: i + 1, name: m })) });

describe('guest state', () => {
  const baseline = parseGuestState(`processes\t1 virtme-ng-init\nlinks\tlo\nlinks\teth0\nmounts\t/\nfiles\t/tmp/.X11-unix\n${census([])}`);

  test('parses the listing and the census', () => {
    expect([...baseline.processes]).toEqual(['1 virtme-ng-init']);
    expect([...baseline.links]).toEqual(['lo', 'eth0']);
    expect(baseline.programs.size).toBe(0);
  });

  test('what a file added, per kind, and nothing for what it removed', () => {
    const after = parseGuestState(
      `processes\t1 virtme-ng-init\nprocesses\t200 sleep\nlinks\tlo\nlinks\tveth0\nnetns\tns1\nmounts\t/\nmounts\t/tmp/m\nfiles\t/tmp/x\n${census(['xdp_prog'], ['COUNTS'])}`,
    );
    const extra = leftovers(baseline, after);
    expect(extra).toEqual({
      processes: ['200 sleep'], links: ['veth0'], netns: ['ns1'], mounts: ['/tmp/m'], files: ['/tmp/x'], programs: ['1 xdp_prog'], maps: ['1 COUNTS'],
    });
    expect(describeLeftovers(extra)).toContain('netns: ns1; mounts: /tmp/m');
  });

  test('the cleanup kills, deletes and unmounts what was added, and detaches tc and XDP from the interfaces that stay', () => {
    const script = cleanupScript({ processes: ['200 sleep', '201 x'], netns: ['ns1'], links: ['veth0'], mounts: ['/a', '/a/b'], files: ["/tmp/it's"] }, ['lo', 'eth0']);
    expect(script).toContain('kill -KILL 200 201');
    expect(script).toContain('ip netns delete ns1');
    expect(script).toContain('ip link delete veth0');
    expect(script.indexOf('umount -l /a/b')).toBeLessThan(script.indexOf('umount -l /a '));
    expect(script).toContain(`rm -rf '/tmp/it'\\''s'`);
    expect(script).toContain('ip link set dev eth0 xdp off');
    expect(script).not.toContain('ip link set dev lo xdp off');
  });

  test('the census is a line of the listing, wherever it stands', () => {
    const state = parseGuestState(`${census(['tp'])}\nlinks\tlo\n`);
    expect([...state.programs]).toEqual(['1 tp']);
    expect([...state.links]).toEqual(['lo']);
  });

  test('a listing line of an unknown kind, or a census that failed, is an error', () => {
    expect(() => parseGuestState(`sockets\tx\n${census([])}`)).toThrow(/unknown kind/);
    expect(() => parseGuestState('census\t{"v":1,"kind":"error","stage":"run","message":"EPERM"}')).toThrow(/census failed: .*EPERM/);
    expect(() => parseGuestState('census\tnot json')).toThrow(/not JSON/);
    expect(() => parseGuestState('links\tlo')).toThrow(/not JSON/); // no census at all
  });
});

describe('the snapshot script', () => {
  test('run by dash, lists a process whose name has spaces and parentheses, with its pid, and leaves out its own ancestry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kmatrix-snapshot-test-'));
    const odd = join(dir, 'a (b) c');
    await copyFile('/bin/sleep', odd);
    const sleeper = execa(odd, ['30'], { reject: false });
    try {
      const emptyCensus = JSON.stringify({ v: 1, kind: 'census', programs: [], maps: [] });
      const listing = await execa('dash', ['-c', `${SNAPSHOT_SCRIPT}\nprintf 'census\\t%s\\n' ${shellQuote(emptyCensus)}`]);
      const state = parseGuestState(listing.stdout);
      expect(state.processes).toContain(`${sleeper.pid} a (b) c`);
      // The shell that made the listing is not in it (it would differ on every snapshot).
      expect([...state.processes].filter((p) => p.endsWith(' dash'))).toEqual([]);
    } finally {
      sleeper.kill('SIGKILL');
      await sleeper;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
