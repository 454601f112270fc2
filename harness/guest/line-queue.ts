/**
 * Lines handed from an event source (an SSH channel's data events) to one
 * async reader. Lines are kept until read, so nothing is lost when the
 * reader starts late, and the source never waits for the reader.
 */
export class LineQueue implements AsyncIterable<string> {
  #lines: string[] = [];
  #ended = false;
  #wake?: () => void;
  /** Text after the last newline written, a line still to come. */
  #partial = '';

  push(line: string): void {
    this.#lines.push(line);
    this.#wake?.();
  }

  /** A chunk of output: its complete lines are queued, the rest waits for its newline (or for `end`). */
  write(text: string): void {
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop()!;
    for (const line of parts) this.push(line);
  }

  /** No more lines; a last line without its newline is queued too. */
  end(): void {
    if (this.#partial) this.push(this.#partial);
    this.#partial = '';
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) yield line;
      else if (this.#ended) return;
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}
