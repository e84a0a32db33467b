/**
 * An async-iterable queue: producers `push`, one consumer iterates with `for await`. Closing
 * ends the iteration after the queued items; `fail` ends it with an error.
 */
export class Channel<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiting?: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };
  #closed = false;
  #error: unknown;

  push(item: T): void {
    if (this.#closed) return;
    if (this.#waiting) {
      const { resolve } = this.#waiting;
      this.#waiting = undefined;
      resolve({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting && error !== undefined) waiting.reject(error);
    else waiting?.resolve({ value: undefined, done: true });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get length(): number {
    return this.#items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0)
      return Promise.resolve({ value: this.#items.shift()!, done: false });
    if (this.#closed) {
      return this.#error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.#error);
    }
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}
