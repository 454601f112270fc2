import { describe, expect, test } from 'vitest';
import { LineQueue } from './line-queue.ts';

describe('LineQueue', () => {
  test('chunks are split into lines wherever their newlines fall; a last line without one comes at the end', async () => {
    const queue = new LineQueue();
    for (const chunk of ['al', 'pha\nbe', 'ta\n\ngam', 'ma']) queue.write(chunk);
    queue.end();
    const seen: string[] = [];
    for await (const line of queue) seen.push(line);
    expect(seen).toEqual(['alpha', 'beta', '', 'gamma']);
  });

  test('lines pushed before the reader starts are not lost', async () => {
    const queue = new LineQueue();
    queue.push('a');
    queue.push('b');
    queue.end();
    const seen: string[] = [];
    for await (const line of queue) seen.push(line);
    expect(seen).toEqual(['a', 'b']);
  });

  test('a waiting reader gets lines as they come, and stops at the end', async () => {
    const queue = new LineQueue();
    const reading = (async () => {
      const seen: string[] = [];
      for await (const line of queue) seen.push(line);
      return seen;
    })();
    await Promise.resolve();
    queue.push('first');
    await new Promise((r) => setTimeout(r, 5));
    queue.push('second');
    queue.push('');
    queue.end();
    expect(await reading).toEqual(['first', 'second', '']);
  });
});
