import { describe, expect, it } from "vitest";
import { z } from "zod";
import { describeKvContract } from "../testing/kv-contract.js";
import { MemoryKvStore } from "./memory-kv.js";
import { KvValueError, TypedKv } from "./typed-kv.js";

describeKvContract("memory", async () => new MemoryKvStore());

describe("TypedKv", () => {
  const Status = z.object({ generation: z.number().int() }).strict();

  it("round-trips validated JSON and does compare-and-set", async () => {
    const kv = new TypedKv(new MemoryKvStore(), Status);
    const r1 = await kv.update("actual-state.pi-1", { generation: 1 }, undefined);
    await kv.update("actual-state.pi-1", { generation: 2 }, r1);
    expect(await kv.get("actual-state.pi-1")).toMatchObject({ value: { generation: 2 } });
  });

  it("reports a malformed stored value with the key, revision and field", async () => {
    const store = new MemoryKvStore();
    const kv = new TypedKv(store, Status);
    await store.put("a", new TextEncoder().encode("{not json"));
    await expect(kv.get("a")).rejects.toThrow(KvValueError);
    await store.put("b", new TextEncoder().encode('{"generation":"x"}'));
    await expect(kv.get("b")).rejects.toThrow(/value of 'b' at revision 2 is invalid: generation:/);
  });
});
