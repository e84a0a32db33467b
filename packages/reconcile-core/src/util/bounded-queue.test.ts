import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "./bounded-queue.js";

describe("BoundedQueue", () => {
  it("keeps the newest `capacity` items in order and counts the dropped (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer(), { maxLength: 100 }),
        (capacity, items) => {
          const queue = new BoundedQueue<number>(capacity);
          for (const item of items) queue.push(item);
          const out: number[] = [];
          for (let v = queue.shift(); v !== undefined; v = queue.shift()) out.push(v);
          expect(out).toEqual(items.slice(Math.max(0, items.length - capacity)));
          expect(queue.dropped).toBe(Math.max(0, items.length - capacity));
        },
      ),
    );
  });

  it("returns the displaced item", () => {
    const queue = new BoundedQueue<string>(2);
    expect(queue.push("a")).toBeUndefined();
    queue.push("b");
    expect(queue.push("c")).toBe("a");
  });
});
