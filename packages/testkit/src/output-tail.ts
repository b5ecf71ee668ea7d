/** Keeps the last `maxChars` characters of a stream's output, for error messages. */
export class OutputTail {
  #text = '';

  /** @param maxChars - how much of the end to keep. */
  constructor(private readonly maxChars = 4_000) {}

  /** Appends a chunk, dropping the oldest text beyond the limit. */
  push(chunk: string | Buffer): void {
    this.#text += chunk.toString();
    if (this.#text.length > this.maxChars * 2) this.#text = this.#text.slice(-this.maxChars);
  }

  /** The kept text (at most `maxChars` characters). */
  toString(): string {
    return this.#text.length > this.maxChars ? this.#text.slice(-this.maxChars) : this.#text;
  }
}
