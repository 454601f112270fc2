// Fault: the loader prints a line outside its protocol. The loader here is a
// stand-in script that says `ready` properly and then writes garbage: the
// case must fail naming the line, and the stand-in must be killed.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';
import { withDir } from 'tmp-promise';
import { test, expect } from '../scenario/fixtures.ts';
import { LoaderSession } from '../loader/client.ts';

const FAKE_LOADER = `#!/bin/sh
echo '{"v":1,"kind":"ready","programs":[],"maps":[],"kernel":"'"$(uname -r)"'"}'
echo 'thread main panicked at src/main.rs:1:1'
exec sleep 600
`;

test('the VM boots (so that the next case times the fault alone)', ({ vm }) => {
  expect(vm.bootMs).toBeGreaterThan(0);
});

test('the loader prints a line that is not protocol', async ({ vm }) => {
  await withDir(async ({ path }) => {
    const fake = join(path, 'fake-loader');
    await writeFile(fake, FAKE_LOADER);
    await chmod(fake, 0o755);
    const object = join(inject('artifacts').ebpfDir, 'exec');
    await using loader = await LoaderSession.start(vm.guest, `kernel ${vm.kernel.name}`, fake, { object, attach: {} });
    await loader.waitForEvents(() => false, 60_000, 'events that never come');
  }, { prefix: 'kmatrix-fault-', unsafeCleanup: true });
});
