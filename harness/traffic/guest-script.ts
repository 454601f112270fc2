import type { Guest } from '../guest/guest.ts';

/**
 * Runs a generator's shell script in the guest (fed on stdin, so it needs no
 * quoting) and returns its stdout; a non-zero exit is an error naming `what`.
 */
export async function runGuestScript(
  guest: Guest,
  what: string,
  script: string,
  options: { timeout: number; shell?: 'sh' | 'bash' },
): Promise<string> {
  const result = await guest.exec(`${options.shell ?? 'sh'} -s`, { stdin: script, timeout: options.timeout });
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${result.stderr}`);
  return result.stdout;
}
