import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "./work-queue.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
afterEach(() => {
  vi.useRealTimers();
});

describe("WorkQueue", () => {
  it("never runs one key twice at once, and re-runs it once when added while running", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const queue = new WorkQueue(4, async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await gate;
      active--;
    });
    queue.add("a");
    expect(runs).toBe(1); // a free slot starts the handler at once
    queue.add("a");
    queue.add("a");
    queue.add("a");
    expect(runs).toBe(1);
    release();
    // idle() waits for the re-run too: the re-add happens before the first run counts as done.
    await queue.idle();
    expect(queue.length).toBe(0);
    expect(maxActive).toBe(1);
    expect(runs).toBe(2);
  });

  it("bounds concurrency across keys", async () => {
    let active = 0;
    let maxActive = 0;
    const queue = new WorkQueue(3, async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await tick(5);
      active--;
    });
    for (let i = 0; i < 20; i++) queue.add(`k${i}`);
    await queue.idle();
    expect(maxActive).toBe(3);
  });

  it("deduplicates queued keys", async () => {
    const seen: string[] = [];
    const queue = new WorkQueue(1, async (key) => {
      seen.push(key);
      await tick(1);
    });
    queue.add("a");
    queue.add("b");
    queue.add("b");
    queue.add("c");
    queue.add("b");
    await queue.idle();
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("keeps the earliest of two delayed adds, and add() supersedes a delay", async () => {
    vi.useFakeTimers();
    const seen: string[] = [];
    const queue = new WorkQueue(1, async (key) => {
      seen.push(key);
    });
    queue.addAfter("a", 10_000);
    queue.addAfter("a", 20);
    queue.addAfter("c", 20);
    queue.addAfter("c", 10_000);
    expect(queue.isDelayed("a")).toBe(true);
    await vi.advanceTimersByTimeAsync(19);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual(["a", "c"]);
    expect(queue.isDelayed("a")).toBe(false);
    queue.addAfter("b", 10_000);
    queue.add("b");
    await queue.idle();
    expect(queue.isDelayed("b")).toBe(false);
    expect(seen).toEqual(["a", "c", "b"]);
    // The later delays were dropped, not merely outrun: nothing fires once they are due.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(seen).toEqual(["a", "c", "b"]);
    queue.stop();
  });
});
