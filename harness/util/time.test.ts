import { execa } from 'execa';
import { describe, expect, test } from 'vitest';

describe('sleep', () => {
  test('keeps the process alive until it ends, so a wait with nothing else pending still finishes', async () => {
    // A process whose only pending work is the sleep: with an unref'd timer
    // it would exit at once, in the middle of the wait, without printing.
    const script = `import { sleep } from ${JSON.stringify(new URL('./time.ts', import.meta.url).href)}; await sleep(50); console.log('woke');`;
    const result = await execa(process.execPath, ['--input-type=module', '-e', script], { reject: false });
    expect({ stdout: result.stdout, exitCode: result.exitCode }).toEqual({ stdout: 'woke', exitCode: 0 });
  });
});
