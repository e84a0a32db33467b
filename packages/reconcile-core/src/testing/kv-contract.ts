import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  KvConflictError,
  type KvEntry,
  KvError,
  type KvStore,
  type KvWatch,
} from "../kv/kv-store.js";

const text = (s: string) => new TextEncoder().encode(s);
const read = (e: KvEntry | undefined) => (e ? new TextDecoder().decode(e.value) : undefined);

/** Takes the next `n` entries of a watch, failing after `ms`. */
export async function takeEntries(watch: KvWatch, n: number, ms = 5_000): Promise<KvEntry[]> {
  const out: KvEntry[] = [];
  if (n === 0) return out;
  const iterator = watch[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`watch delivered ${out.length} of ${n} entries within ${ms} ms`)),
      ms,
    );
  });
  try {
    while (out.length < n) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next.done) throw new Error(`watch ended after ${out.length} of ${n} entries`);
      out.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/**
 * The behaviour every `KvStore` must have. Call it from a test file with a factory for a
 * fresh, empty store; `dispose` runs after each test.
 */
export function describeKvContract(
  name: string,
  open: () => Promise<KvStore>,
  dispose?: (kv: KvStore) => Promise<void>,
): void {
  describe(`KvStore contract: ${name}`, () => {
    let kv: KvStore;
    const watches: KvWatch[] = [];
    const watch = async (pattern: string) => {
      const w = await kv.watch(pattern);
      watches.push(w);
      return w;
    };

    beforeEach(async () => {
      kv = await open();
    });
    afterEach(async () => {
      for (const w of watches.splice(0)) w.stop();
      await (dispose ? dispose(kv) : kv.close());
    });

    it("returns undefined for a missing key", async () => {
      expect(await kv.get("nothing.here")).toBeUndefined();
    });

    it("puts and gets, with a revision that grows on every write", async () => {
      const r1 = await kv.put("desired-state.pi-1", text("one"));
      const r2 = await kv.put("desired-state.pi-1", text("two"));
      const r3 = await kv.put("desired-state.pi-2", text("x"));
      expect(r1).toBeGreaterThan(0);
      expect(r2).toBeGreaterThan(r1);
      expect(r3).toBeGreaterThan(r2);
      const entry = await kv.get("desired-state.pi-1");
      expect(read(entry)).toBe("two");
      expect(entry).toMatchObject({ key: "desired-state.pi-1", revision: r2, operation: "PUT" });
    });

    it("create refuses an existing key and succeeds again after a delete", async () => {
      await kv.create("k", text("a"));
      await expect(kv.create("k", text("b"))).rejects.toBeInstanceOf(KvConflictError);
      expect(read(await kv.get("k"))).toBe("a");
      await kv.delete("k");
      await kv.create("k", text("c"));
      expect(read(await kv.get("k"))).toBe("c");
    });

    it("update is compare-and-set on the revision", async () => {
      const r1 = await kv.put("actual-state.pi-1", text("v1"));
      const r2 = await kv.update("actual-state.pi-1", text("v2"), r1);
      await expect(kv.update("actual-state.pi-1", text("stale"), r1)).rejects.toBeInstanceOf(
        KvConflictError,
      );
      expect(read(await kv.get("actual-state.pi-1"))).toBe("v2");
      expect((await kv.get("actual-state.pi-1"))?.revision).toBe(r2);
    });

    it("of two writers racing with the same revision, exactly one wins", async () => {
      const r1 = await kv.put("race", text("base"));
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => kv.update("race", text(`w${i}`), r1)),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results)
        if (r.status === "rejected") expect(r.reason).toBeInstanceOf(KvConflictError);
    });

    it("update with revision 0 creates only when the key does not exist", async () => {
      await kv.update("fresh", text("a"), 0);
      expect(read(await kv.get("fresh"))).toBe("a");
      await expect(kv.update("fresh", text("b"), 0)).rejects.toBeInstanceOf(KvConflictError);
      await kv.delete("fresh");
      await kv.update("fresh", text("c"), 0);
      expect(read(await kv.get("fresh"))).toBe("c");
    });

    it("delete hides the key; with previousRevision it is compare-and-set", async () => {
      const r1 = await kv.put("d", text("a"));
      await expect(kv.delete("d", { previousRevision: r1 + 100 })).rejects.toBeInstanceOf(
        KvConflictError,
      );
      expect(read(await kv.get("d"))).toBe("a");
      await kv.delete("d", { previousRevision: r1 });
      expect(await kv.get("d")).toBeUndefined();
      expect(await kv.keys()).not.toContain("d");
    });

    it("lists keys by pattern", async () => {
      await kv.put("actual-state.pi-1", text("1"));
      await kv.put("actual-state.pi-2", text("2"));
      await kv.put("heartbeat.pi-1", text("h"));
      await kv.put("actual-state.pi-3", text("3"));
      await kv.delete("actual-state.pi-3");
      expect((await kv.keys("actual-state.>")).sort()).toEqual([
        "actual-state.pi-1",
        "actual-state.pi-2",
      ]);
      expect((await kv.keys("*.pi-1")).sort()).toEqual(["actual-state.pi-1", "heartbeat.pi-1"]);
    });

    it("a watch of one key delivers its current value first, then changes and deletes", async () => {
      await kv.put("desired-state.pi-1", text("old"));
      const r = await kv.put("desired-state.pi-1", text("current"));
      const w = await watch("desired-state.pi-1");
      const [first] = await takeEntries(w, 1);
      expect(read(first)).toBe("current");
      expect(first?.revision).toBe(r);
      await kv.put("desired-state.pi-2", text("other agent"));
      await kv.put("desired-state.pi-1", text("next"));
      await kv.delete("desired-state.pi-1");
      const [next, del] = await takeEntries(w, 2);
      expect(read(next)).toBe("next");
      expect(del).toMatchObject({ key: "desired-state.pi-1", operation: "DEL" });
    });

    it("a watch of a missing key waits for its first value", async () => {
      const w = await watch("desired-state.new");
      setTimeout(() => void kv.put("desired-state.new", text("hello")), 50);
      const [entry] = await takeEntries(w, 1);
      expect(read(entry)).toBe("hello");
    });

    it("a prefix watch replays every matching key, then only matching changes", async () => {
      await kv.put("actual-state.pi-1", text("a"));
      await kv.put("heartbeat.pi-1", text("h"));
      await kv.put("actual-state.pi-2", text("b"));
      const w = await watch("actual-state.>");
      const initial = await takeEntries(w, 2);
      expect(initial.map((e) => [e.key, read(e)])).toEqual([
        ["actual-state.pi-1", "a"],
        ["actual-state.pi-2", "b"],
      ]);
      await kv.put("heartbeat.pi-2", text("ignored"));
      await kv.put("actual-state.pi-3", text("c"));
      const [change] = await takeEntries(w, 1);
      expect([change?.key, read(change)]).toEqual(["actual-state.pi-3", "c"]);
    });

    it("stop ends a watch", async () => {
      const w = await watch("x.>");
      const iterator = w[Symbol.asyncIterator]();
      const pending = iterator.next();
      w.stop();
      const result = await Promise.race([
        pending,
        new Promise((r) => setTimeout(() => r("timeout"), 3_000)),
      ]);
      expect(result).toMatchObject({ done: true });
    });

    it("refuses invalid keys with a KvError naming the key", async () => {
      await expect(kv.put("bad key", text("x"))).rejects.toThrow(KvError);
      await expect(kv.put("bad key", text("x"))).rejects.toThrow("bad key");
      await expect(kv.put("trailing.", text("x"))).rejects.toThrow(KvError);
    });

    it("stores bytes exactly", async () => {
      const bytes = new Uint8Array([0, 255, 1, 128, 10]);
      await kv.put("bin", bytes);
      expect(Array.from((await kv.get("bin"))!.value)).toEqual([0, 255, 1, 128, 10]);
    });
  });
}
