import { open, type FileHandle } from 'node:fs/promises';

/**
 * Follows a file that another process appends to and hands out complete
 * lines. Polling keeps it simple and cheap at the rate a console writes.
 */
export class FileTail {
  #handle?: FileHandle;
  #offset = 0;
  #partial = '';
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** New complete lines since the last call (an unfinished last line waits). */
  async read(): Promise<string[]> {
    this.#handle ??= await open(this.#path, 'r');
    // QEMU reopens its output files with O_TRUNC: start over when that happens.
    if ((await this.#handle.stat()).size < this.#offset) this.#offset = 0;
    const buffer = Buffer.alloc(64 * 1024);
    let text = '';
    for (;;) {
      const { bytesRead } = await this.#handle.read(buffer, 0, buffer.length, this.#offset);
      if (bytesRead === 0) break;
      this.#offset += bytesRead;
      text += buffer.subarray(0, bytesRead).toString('utf8');
    }
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    return lines.map((l) => l.replace(/\r$/, ''));
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }
}
