import { afterEach, describe, expect, it, vi } from "vitest";
import type { KvStore, KvWatch } from "../kv/kv-store.js";
import { MemoryKvStore } from "../kv/memory-kv.js";
import type { Manifest } from "../resource/manifest.js";
import { until } from "../testing/helpers.js";
import { KvStateSource } from "./kv-source.js";
import type { StateUpdate } from "./state-source.js";

const KEY = "desired-state.pi-1";
const text = (s: string) => new TextEncoder().encode(s);
const manifest = (generation: number) => text(JSON.stringify({ generation, resources: [] }));
const fast = { baseMs: 10, capMs: 40, jitter: 0.5 };

let source: KvStateSource | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await source?.stop();
  source = undefined;
});

function collect(options: { store: KvStore; backoff?: typeof fast; random?: () => number }) {
  const updates: StateUpdate<Manifest>[] = [];
  source = new KvStateSource({ key: KEY, backoff: fast, ...options });
  const started = source.start((u) => updates.push(u));
  const nth = (n: number) =>
    until(
      () => updates.length,
      (l) => l >= n,
      5_000,
      `${n} updates (have ${JSON.stringify(updates)})`,
    ).then(() => updates[n - 1]!);
  return { updates, started, nth };
}

/** A store whose watches fail `failures` times before the memory store answers; counts attempts. */
function flaky(store: MemoryKvStore, failures: number) {
  let attempts = 0;
  const wrapped: KvStore = Object.assign(Object.create(store) as KvStore, {
    watch: async (pattern: string): Promise<KvWatch> => {
      attempts++;
      if (attempts <= failures) throw new Error("connection refused");
      return store.watch(pattern);
    },
  });
  return { store: wrapped, attempts: () => attempts };
}

describe("KvStateSource (memory KV)", () => {
  it("delivers the key's current value first, then each change, with the revision as version", async () => {
    const store = new MemoryKvStore();
    const first = await store.put(KEY, manifest(1));
    await store.put("desired-state.other", manifest(9));
    const { nth, updates } = collect({ store });
    expect(await nth(1)).toEqual({
      type: "desired",
      value: { generation: 1, resources: [] },
      origin: `${KEY}@${first}`,
      version: String(first),
    });
    const second = await store.put(KEY, manifest(2));
    expect(await nth(2)).toMatchObject({ type: "desired", version: String(second) });
    expect(source?.current).toMatchObject({ generation: 2 });
    expect(updates.every((u) => u.type !== "desired" || u.origin.startsWith(KEY))).toBe(true);
  });

  it("reports a deleted key and an invalid value as errors, keeps the last good state, and takes the next good one", async () => {
    const store = new MemoryKvStore();
    await store.put(KEY, manifest(1));
    const { nth } = collect({ store });
    await nth(1);
    await store.delete(KEY);
    expect(await nth(2)).toMatchObject({ type: "error", error: { code: "deleted", origin: KEY } });
    expect(source?.current).toMatchObject({ generation: 1 });

    const bad = await store.put(KEY, text("{ not json"));
    const invalid = await nth(3);
    expect(invalid).toMatchObject({ type: "error", error: { code: "parse" } });
    if (invalid.type === "error") expect(invalid.error.origin).toBe(`${KEY}@${bad}`);
    expect(source?.current).toMatchObject({ generation: 1 });

    await store.put(KEY, manifest(3));
    expect(await nth(4)).toMatchObject({ type: "desired", value: { generation: 3 } });
  });

  it("watches again when the watch ends, without delivering a revision twice", async () => {
    const store = new MemoryKvStore();
    await store.put(KEY, manifest(1));
    const { nth, updates } = collect({ store });
    await nth(1);
    await store.close(); // ends every watch, as a store losing its server would
    expect(await nth(2)).toMatchObject({ type: "error", error: { code: "unavailable" } });
    await store.put(KEY, manifest(2));
    expect(await nth(3)).toMatchObject({ type: "desired", value: { generation: 2 } });
    // The re-watch replayed generation 2's revision only once, and generation 1 never again.
    expect(updates.filter((u) => u.type === "desired")).toHaveLength(2);
  });

  it("backs off with jitter between failed watches, doubling to the cap, and reports the outage once", async () => {
    vi.useFakeTimers();
    const memory = new MemoryKvStore();
    await memory.put(KEY, manifest(1));
    const { store, attempts } = flaky(memory, 4);
    // random() = 1 takes the whole jitter off: delays are half of 100, 200, 400, 400.
    const { updates } = collect({
      store,
      backoff: { baseMs: 100, capMs: 400, jitter: 0.5 },
      random: () => 1,
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts()).toBe(1);
    for (const [delay, after] of [
      [50, 2],
      [100, 3],
      [200, 4],
      [200, 5],
    ] as const) {
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(attempts()).toBe(after - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts()).toBe(after);
    }
    expect(updates.map((u) => u.type)).toEqual(["error", "desired"]);
    expect(updates[0]).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("connection refused") },
    });
  });

  it("stops at once while the store has not answered the watch, and while waiting to watch again", async () => {
    const pending: KvStore = Object.assign(Object.create(new MemoryKvStore()) as KvStore, {
      watch: () => new Promise<KvWatch>(() => undefined),
    });
    const hanging = new KvStateSource({ store: pending, key: KEY });
    await hanging.start(() => undefined);
    const t0 = Date.now();
    await hanging.stop();
    expect(Date.now() - t0).toBeLessThan(100);

    const { store, attempts } = flaky(new MemoryKvStore(), Number.POSITIVE_INFINITY);
    const waiting = new KvStateSource({
      store,
      key: KEY,
      backoff: { baseMs: 60_000, capMs: 60_000, jitter: 0 },
    });
    await waiting.start(() => undefined);
    await until(attempts, (n) => n === 1);
    const t1 = Date.now();
    await waiting.stop();
    expect(Date.now() - t1).toBeLessThan(100);
  });
});
