import {
  type ManifestStatus,
  decodeJson,
  type KvStore,
  MemoryKvStore,
  silentLogger,
} from "@org/reconcile-core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HeartbeatSchema, heartbeatKey } from "./fleet.js";
import { HeartbeatSender, heartbeatOf } from "./heartbeat.js";

const status: ManifestStatus = {
  manifestGeneration: 4,
  observedGeneration: 3,
  resources: {
    a: { kind: "File", generation: 4, state: "Ready", since: "2026-01-01T00:00:00.000Z" },
    b: { kind: "File", generation: 4, state: "Ready", since: "2026-01-01T00:00:00.000Z" },
    c: {
      kind: "Script",
      generation: 4,
      state: "Failed",
      since: "2026-01-01T00:00:00.000Z",
      error: "boom",
      attempts: 2,
      retryAt: "2026-01-01T00:00:10.000Z",
    },
  },
  conditions: [],
};

const senders: HeartbeatSender[] = [];
afterEach(() => {
  for (const s of senders.splice(0)) s.stop();
  vi.useRealTimers();
});

function sender(store: KvStore, intervalMs = 1_000, onSent: () => void = () => undefined) {
  const s = new HeartbeatSender({
    agent: "pi-1",
    version: "9.9.9",
    store,
    intervalMs,
    status: () => status,
    lastReconcileAt: () => undefined,
    onSent,
    log: silentLogger,
  });
  senders.push(s);
  return s;
}

async function revisions(store: KvStore): Promise<number> {
  return (await store.get(heartbeatKey("pi-1")))?.revision ?? 0;
}

describe("heartbeat", () => {
  it("counts resources by state and reports uptime, in the fleet's heartbeat schema", () => {
    const heartbeat = heartbeatOf({
      agent: "pi-1",
      version: "9.9.9",
      startedAt: new Date("2026-01-01T00:00:00.000Z"),
      at: new Date("2026-01-01T00:01:30.400Z"),
      status,
      lastReconcileAt: "2026-01-01T00:01:29.000Z",
    });
    expect(HeartbeatSchema.parse(heartbeat)).toMatchObject({
      agent: "pi-1",
      version: "9.9.9",
      uptimeSeconds: 90,
      lastReconcileAt: "2026-01-01T00:01:29.000Z",
      manifestGeneration: 4,
      observedGeneration: 3,
      resources: { total: 3, ready: 2, failed: 1 },
    });
  });

  it("beats once at start and then on every interval until stopped", async () => {
    vi.useFakeTimers();
    const store = new MemoryKvStore();
    let sent = 0;
    const s = sender(store, 1_000, () => sent++);
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(sent).toBe(4);
    const entry = await store.get(heartbeatKey("pi-1"));
    expect(
      decodeJson(HeartbeatSchema, heartbeatKey("pi-1"), entry!.revision, entry!.value),
    ).toMatchObject({
      agent: "pi-1",
      resources: { total: 3 },
    });
    s.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sent).toBe(4);
  });

  it("keeps at most one write in flight while the store hangs, and a failed write is dropped", async () => {
    const memory = new MemoryKvStore();
    let release: () => void = () => undefined;
    let puts = 0;
    let fail = false;
    const store = Object.assign(Object.create(memory) as KvStore, {
      put: async (key: string, value: Uint8Array) => {
        puts++;
        if (fail) throw new Error("no responders");
        await new Promise<void>((r) => {
          release = r;
        });
        return memory.put(key, value);
      },
    });
    const s = sender(store);
    const first = s.beat();
    expect(await s.beat()).toBe(false);
    expect(puts).toBe(1);
    release();
    expect(await first).toBe(true);
    expect(await revisions(memory)).toBeGreaterThan(0);

    fail = true;
    expect(await s.beat()).toBe(false);
    fail = false;
    const next = s.beat();
    release();
    expect(await next).toBe(true);
    expect(puts).toBe(3);
  });
});
