import { describe, expect, test } from 'vitest';
import { describeSplats, findSplats, isFatal, splatKindOf, unexpectedSplats } from './kernel-log.ts';

const ORDINARY = [
  '[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.example.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2',
  '[    1.234567] virtio_net virtio1 enp0s1: renamed from eth0',
  '[   12.345678] systemd[1]: Started systemd-journald.service - Journal Service.',
  '[   13.000001] bpf: Unprivileged eBPF is disabled due to Spectre v2 BHB attacks!',
  '[   14.000000] kmatrix: case 3f2a begins: exec events match',
  '',
];

const WARN = [
  '[   42.101010] ------------[ cut here ]------------',
  '[   42.101011] WARNING: CPU: 1 PID: 812 at kernel/bpf/verifier.c:1234 do_check+0x5a/0x60',
  '[   42.101012] Modules linked in: veth sch_ingress',
  '[   42.101013] CPU: 1 PID: 812 Comm: kmatrix-loader Not tainted 6.1.0-56-cloud-amd64 #1',
  '[   42.101014] Call Trace:',
  '[   42.101015]  <TASK>',
  '[   42.101016]  do_check+0x5a/0x60',
  '[   42.101017] ---[ end trace 0000000000000000 ]---',
  '[   42.200000] veth-b: link becomes ready',
];

describe('splatKindOf', () => {
  test('ordinary lines are no splat', () => {
    for (const line of ORDINARY) expect(splatKindOf(line)).toBeUndefined();
  });

  test.each([
    ['[   12.345678] Kernel panic - not syncing: sysrq triggered crash', 'panic'],
    ['[   30.001234] rcu: INFO: rcu_preempt self-detected stall on CPU', 'rcu-stall'],
    ['[   30.001234] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[   30.001234] rcu: RCU grace-period kthread stack dump:', 'rcu-stall'],
    ['[   14.112233] BUG: unable to handle page fault for address: ffffffffc0a01000', 'oops'],
    ['[   14.112240] Oops: 0002 [#1] PREEMPT SMP NOPTI', 'oops'],
    ['[   14.112240] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP', 'oops'],
    ['[   14.112240] kernel BUG at mm/slub.c:379!', 'oops'],
    ['[   52.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [kworker/1:2:87]', 'soft-lockup'],
    ['[   52.123456] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1', 'hard-lockup'],
    ['[   52.123456] BUG: KASAN: slab-out-of-bounds in bpf_map_lookup_elem+0x1/0x2', 'kasan'],
    ['[   52.123456] UBSAN: shift-out-of-bounds in kernel/bpf/core.c:1661:3', 'ubsan'],
    ['[  241.000000] INFO: task kworker/0:1:12 blocked for more than 120 seconds.', 'hung-task'],
    ['[   42.101011] WARNING: CPU: 1 PID: 812 at kernel/bpf/verifier.c:1234 do_check+0x5a/0x60', 'warning'],
    ['WARNING: CPU: 0 PID: 1 at kernel/trace/trace_events.c:123 trace_event_raw_init+0x5a/0x60', 'warning'],
    ['[    9.000000] WARNING: possible circular locking dependency detected', 'warning'],
    ['[    9.000000] BUG: sleeping function called from invalid context at mm/slab.h:742', 'bug'],
  ] as const)('%s → %s', (line, kind) => {
    expect(splatKindOf(line)).toBe(kind);
  });

  test('a daemon quoting "WARNING:" or "BUG:" in its own log line is not a splat', () => {
    expect(splatKindOf('[    3.000000] systemd[1]: WARNING: CPU: 0 PID: 1 at is not a splat when quoted')).toBeUndefined();
    expect(splatKindOf('[    3.000000] myapp: found a BUG: in the config')).toBeUndefined();
  });
});

describe('isFatal', () => {
  test('a panic, an oops, an RCU stall and a hard lockup end the VM at once', () => {
    for (const kind of ['panic', 'oops', 'rcu-stall', 'hard-lockup'] as const) expect(isFatal(kind, 0)).toBe(true);
  });

  test('a soft lockup ends it when reported the second time', () => {
    expect(isFatal('soft-lockup', 0)).toBe(false);
    expect(isFatal('soft-lockup', 1)).toBe(true);
  });

  test('a WARN, a BUG, KASAN, UBSAN and a hung task fail the case but leave the VM up', () => {
    for (const kind of ['warning', 'bug', 'kasan', 'ubsan', 'hung-task'] as const) expect(isFatal(kind, 5)).toBe(false);
  });
});

describe('findSplats', () => {
  test('a WARN with its trace, up to its end marker, and nothing after', () => {
    const splats = findSplats([...ORDINARY, ...WARN]);
    expect(splats).toHaveLength(1);
    expect(splats[0]!.kind).toBe('warning');
    expect(splats[0]!.lines).toEqual(WARN.slice(1, 8));
  });

  test('two splats in a row are two splats', () => {
    const splats = findSplats([WARN[1]!, '[   43.0] BUG: sleeping function called from invalid context', '[   43.1] in_atomic(): 1']);
    expect(splats.map((s) => s.kind)).toEqual(['warning', 'bug']);
    expect(splats[1]!.lines).toHaveLength(2);
  });

  test('a splat without an end marker is cut at 40 lines', () => {
    const lines = [WARN[1]!, ...Array.from({ length: 100 }, (_, i) => `[   43.0] frame ${i}`)];
    expect(findSplats(lines)[0]!.lines).toHaveLength(40);
  });
});

describe('unexpectedSplats / describeSplats', () => {
  const splats = findSplats([...WARN, '[   50.0] INFO: task sleep:99 blocked for more than 1 seconds.']);

  test('an allow-list entry accepts the splats it matches, and only those', () => {
    expect(unexpectedSplats(splats, [])).toHaveLength(2);
    const left = unexpectedSplats(splats, [{ pattern: /blocked for more than/, reason: 'the scenario blocks a task on purpose' }]);
    expect(left.map((s) => s.kind)).toEqual(['warning']);
    // The pattern may match any line of the splat, not only its first.
    expect(unexpectedSplats(splats, [{ pattern: /Comm: kmatrix-loader/, reason: 'r' }]).map((s) => s.kind)).toEqual(['hung-task']);
  });

  test('the description names each kind and shows its lines', () => {
    const text = describeSplats(splats, 2);
    expect(text.split('\n')).toEqual([
      'warning:',
      `  ${WARN[1]}`,
      `  ${WARN[2]}`,
      '  … 5 more lines',
      'hung-task:',
      '  [   50.0] INFO: task sleep:99 blocked for more than 1 seconds.',
    ]);
  });
});
