// The guest session the other scenarios stand on: exit statuses, signals,
// timeouts, stdin, uploads and the kernel log, on every kernel of the matrix.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test, expect, CommandTimeoutError } from 'kmatrix';

test('exec reports exit codes, signals and stderr, and feeds stdin', async ({ vm }) => {
  expect(await vm.guest.exec('echo out; echo err >&2; exit 3')).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3, signal: null });
  expect((await vm.guest.exec('kill -KILL $$')).signal).toBe('SIGKILL');
  expect((await vm.guest.exec('tr a-z A-Z', { stdin: 'kmatrix\n' })).stdout).toBe('KMATRIX\n');
  expect((await vm.guest.exec('uname -r')).stdout.trim()).toBe(vm.kernel.release);
});

test('a command that hangs is killed in the guest, with everything it started, and reported with what it printed', async ({ vm }) => {
  const started = Date.now();
  // A background child, and a grandchild in a process group of its own
  // (job control): neither may survive the timeout.
  const hang = 'echo started; sleep 6001 & (set -m; sleep 6002 &); sleep 6003';
  const error = await vm.guest.exec(hang, { timeout: 3_000 }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(CommandTimeoutError);
  expect((error as CommandTimeoutError).partial.stdout).toBe('started\n');
  expect((error as CommandTimeoutError).message).toMatch(/timed out after 3000 ms and its session \d+ was killed in the guest/);
  expect(Date.now() - started).toBeLessThan(15_000);
  // Nothing of it is left running, and the session is still usable.
  const left = await vm.guest.exec('pgrep -a -f "sleep 600[123]"');
  expect(left, `left running in the guest: ${left.stdout}`).toMatchObject({ stdout: '', code: 1 });
});

test('an uploaded file arrives whole, with its mode', async ({ vm, objectPath }) => {
  const object = objectPath('exec'); // a BPF object: binary, some KiB
  await vm.guest.upload(object, '/tmp/kmatrix-upload-check', 0o750);
  const expected = createHash('sha256').update(await readFile(object)).digest('hex');
  const { stdout } = await vm.guest.exec('sha256sum /tmp/kmatrix-upload-check; stat -c %a /tmp/kmatrix-upload-check');
  expect(stdout).toBe(`${expected}  /tmp/kmatrix-upload-check\n750\n`);
});

test('the kernel log is readable and carries this kernel', async ({ vm }) => {
  expect(await vm.guest.dmesg()).toContain(`Linux version ${vm.kernel.release}`);
});
