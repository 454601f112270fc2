import { describe, expect, test } from 'vitest';
import { ConsoleWatch } from './console-watch.ts';

const ORDINARY = [
  '[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.example.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2',
  '[    1.234567] virtio_net virtio1 enp0s1: renamed from eth0',
  '[   12.345678] systemd[1]: Started systemd-journald.service - Journal Service.',
  '[   13.000001] bpf: Unprivileged eBPF is disabled due to Spectre v2 BHB attacks!',
  '',
];
const WARN_LINE = '[    2.468024] WARNING: CPU: 0 PID: 1 at kernel/trace/trace_events.c:123 trace_event_raw_init+0x5a/0x60';

describe('ConsoleWatch', () => {
  test('ordinary boot lines are not fatal, before or after boot', () => {
    const watch = new ConsoleWatch();
    for (const line of ORDINARY) expect(watch.line(line)).toEqual({ fatal: false });
    watch.booted();
    for (const line of ORDINARY) expect(watch.line(line)).toEqual({ fatal: false });
  });

  test.each([
    ['[   12.345678] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)', 'kernel panic'],
    ['[   30.001234] rcu: RCU grace-period kthread stack dump:', 'RCU stall'],
    ['[   14.112233] BUG: unable to handle page fault for address: ffffffffc0a01000', 'kernel oops (BUG)'],
    ['[   14.112240] Oops: 0002 [#1] PREEMPT SMP NOPTI', 'kernel oops'],
  ])('always fatal, even after boot: %s', (line, reason) => {
    const watch = new ConsoleWatch();
    watch.booted();
    expect(watch.line(line)).toEqual({ fatal: true, reason });
  });

  test('a soft lockup is fatal only when seen the second time', () => {
    const watch = new ConsoleWatch();
    const lockup = '[   52.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [kworker/1:2:87]';
    expect(watch.line(lockup)).toEqual({ fatal: false });
    expect(watch.line(ORDINARY[2]!)).toEqual({ fatal: false });
    expect(watch.line('[   80.123456] watchdog: BUG: soft lockup - CPU#1 stuck for 49s! [kworker/1:2:87]')).toEqual({
      fatal: true,
      reason: 'soft lockup',
    });
  });

  test('a WARN is fatal while booting', () => {
    expect(new ConsoleWatch().line(WARN_LINE)).toEqual({ fatal: true, reason: 'kernel WARN during boot' });
    // Without the timestamp prefix too (printk.time=0).
    expect(new ConsoleWatch().line(WARN_LINE.replace(/^\[[^\]]*\] /, ''))).toEqual({ fatal: true, reason: 'kernel WARN during boot' });
  });

  test('a WARN after booted() is not fatal', () => {
    const watch = new ConsoleWatch();
    watch.booted();
    expect(watch.line(WARN_LINE)).toEqual({ fatal: false });
  });

  test('"WARNING:" in the middle of an ordinary message is not a WARN splat', () => {
    const watch = new ConsoleWatch();
    expect(watch.line('[    3.000000] systemd[1]: WARNING: CPU: 0 PID: 1 at is not a splat when quoted')).toEqual({ fatal: false });
  });
});
