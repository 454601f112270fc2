import type { Guest } from '../guest/guest.ts';
import { LoaderError, mapArg } from '../loader/client.ts';
import { parseLoaderLine, type MapLine } from '../loader/protocol.ts';
import { shellQuote } from '../util/shell.ts';

/**
 * The maps a running program created, read from the kernel by name (or pin
 * path) with kmatrix-loader's `--live` mode, their keys and values decoded
 * from the object's DWARF: the `bpftool map dump` view, typed.
 * `maps`: map name → `'declared'` (types from its declaration) or `'KEY:VALUE'`;
 * a name starting with `/` is a pin path and needs `'KEY:VALUE'`.
 */
export async function readLiveMaps(
  guest: Guest,
  label: string,
  loader: string,
  object: string,
  maps: Record<string, string>,
  options: { bytes?: string[]; timeoutMs?: number } = {},
): Promise<Map<string, MapLine>> {
  const args = [loader, '--live', '--object', object];
  for (const [name, types] of Object.entries(maps)) {
    if (name.startsWith('/')) args.push('--pinned', `${name}=${types}`);
    else args.push('--map', mapArg(name, types));
  }
  for (const field of options.bytes ?? []) args.push('--bytes', field);
  const result = await guest.exec(args.map(shellQuote).join(' '), { timeout: options.timeoutMs ?? 60_000 });
  const found = new Map<string, MapLine>();
  for (const text of result.stdout.split('\n').filter((l) => l.trim())) {
    const line = parseLoaderLine(text);
    if (line.kind === 'error') throw new LoaderError(label, line, result.stderr.trim());
    if (line.kind === 'map') found.set(line.name, line);
  }
  if (result.code !== 0) throw new Error(`${label}: kmatrix-loader --live exited ${result.code ?? result.signal}: ${result.stderr.trim()}`);
  // Pinned maps are dumped under their kernel name, which the caller may not know.
  const missing = Object.keys(maps).filter((name) => !name.startsWith('/') && !found.has(name));
  if (missing.length) throw new Error(`${label}: kmatrix-loader --live printed no dump of ${missing.join(', ')}`);
  return found;
}
