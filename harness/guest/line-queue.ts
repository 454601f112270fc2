/**
 * Lines handed from an event source (an SSH channel's data events) to one
 * async reader. Lines are kept until read, so nothing is lost when the
 * reader starts late, and the source never waits for the reader.
 */
export class LineQueue implements AsyncIterable<string> {
  #lines: string[] = [];
  #ended = false;
  #wake?: () => void;

  push(line: string): void {
    this.#lines.push(line);
    this.#wake?.();
  }

  end(): void {
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
