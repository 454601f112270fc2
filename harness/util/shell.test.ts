import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { shellQuote } from './shell.ts';

describe('shellQuote', () => {
  test('plain words stay as they are', () => {
    for (const arg of ['/tmp/kmatrix/kmatrix-loader', '--attach', 'sched_process_exec=tracepoint:sched/sched_process_exec', 'EXECS_BY_UID=u32:u64', 'a,b+c'])
      expect(shellQuote(arg)).toBe(arg);
  });

  test('anything else is single-quoted, embedded quotes included', () => {
    expect(shellQuote('two words')).toBe("'two words'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$HOME')).toBe("'$HOME'");
  });

  test('sh gets back exactly the original arguments', () => {
    const args = ['plain', 'two words', '', "it's", '$HOME `id` $(id)', 'a;b|c&d', 'glob*?[x]', 'new\nline', '"dq"', '\\back', '~user', '#hash'];
    const script = `for a in ${args.map(shellQuote).join(' ')}; do printf '%s\\0' "$a"; done`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(args);
  });
});
