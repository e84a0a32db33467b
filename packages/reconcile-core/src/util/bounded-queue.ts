/**
 * A FIFO ring buffer with a fixed capacity that drops its oldest item when full and counts
 * what it dropped. Used wherever a slow consumer must not grow memory without bound.
 */
export class BoundedQueue<T> {
  readonly capacity: number;
  #items: Array<T | undefined>;
  #head = 0;
  #size = 0;
  #dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#items = new Array(capacity);
  }

  /** Appends `item`; returns the item it displaced when full, if any. */
  push(item: T): T | undefined {
    let displaced: T | undefined;
    if (this.#size === this.capacity) {
      displaced = this.#items[this.#head];
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
      this.#size--;
      this.#dropped++;
    }
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
    return displaced;
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return item;
  }

  get length(): number {
    return this.#size;
  }

  /** Items dropped because the queue was full, since it was made. */
  get dropped(): number {
    return this.#dropped;
  }

  clear(): void {
    this.#items = new Array(this.capacity);
    this.#head = 0;
    this.#size = 0;
  }
}
