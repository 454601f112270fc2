import { open, type FileHandle } from 'node:fs/promises';

/**
 * Follows a file that another process appends to and hands out complete
 * lines. Polling keeps it simple and cheap at the rate a console writes.
 */
export class FileTail {
  // The promise, not the handle: two reads at once must not open it twice.
  #handle?: Promise<FileHandle>;
  #closed = false;
  #offset = 0;
  #partial = '';
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** New complete lines since the last call (an unfinished last line waits). */
  async read(): Promise<string[]> {
    if (this.#closed) return [];
    const handle = await (this.#handle ??= open(this.#path, 'r'));
    // QEMU reopens its output files with O_TRUNC: start over when that happens.
    if ((await handle.stat()).size < this.#offset) this.#offset = 0;
    const buffer = Buffer.alloc(64 * 1024);
    let text = '';
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset);
      if (bytesRead === 0) break;
      this.#offset += bytesRead;
      text += buffer.subarray(0, bytesRead).toString('utf8');
    }
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    return lines.map((l) => l.replace(/\r$/, ''));
  }

  /** Closes the file; later reads return nothing. */
  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.then((h) => h.close(), () => {});
  }
}
