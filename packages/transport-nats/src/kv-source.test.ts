import type { NatsConnection } from "@nats-io/transport-node";
import { KvStateSource, type Manifest, type StateUpdate } from "@org/reconcile-core";
import { until } from "@org/reconcile-core/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectNats } from "./connection.js";
import { NatsKvStore } from "./kv-store.js";
import { shouldRunNatsTests, TestNatsServer } from "./testing/nats-server.js";

const KEY = "desired-state.pi-1";
const manifest = (generation: number) =>
  new TextEncoder().encode(JSON.stringify({ generation, resources: [] }));

describe.runIf(shouldRunNatsTests())("KvStateSource on JetStream KV (real nats-server)", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let bucketNo = 0;
  let source: KvStateSource | undefined;
  const open = () => NatsKvStore.open(nc, `source${++bucketNo}`);
  const collect = (store: NatsKvStore) => {
    const updates: StateUpdate<Manifest>[] = [];
    source = new KvStateSource({
      store,
      key: KEY,
      backoff: { baseMs: 100, capMs: 1_000, jitter: 0.5 },
    });
    void source.start((u) => updates.push(u));
    const desired = () =>
      updates.flatMap((u) => (u.type === "desired" ? [u.value.generation] : []));
    return { updates, desired };
  };

  beforeAll(async () => {
    server = await TestNatsServer.start();
    nc = await connectNats({ servers: server.url, reconnectWaitMs: 100 });
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("delivers the current manifest, then changes; a deleted key is reported and the last manifest stays", async () => {
    const store = await open();
    await store.put(KEY, manifest(1));
    const { updates, desired } = collect(store);
    await until(desired, (g) => g.join() === "1", 10_000, "the current manifest");
    await store.put(KEY, manifest(2));
    await until(desired, (g) => g.join() === "1,2", 10_000, "the change");

    await store.delete(KEY);
    await until(
      () => updates.at(-1),
      (u) => u?.type === "error" && u.error.code === "deleted",
      10_000,
      "the deletion reported",
    );
    expect(source?.current).toMatchObject({ generation: 2 });

    await store.put(KEY, manifest(3));
    await until(desired, (g) => g.join() === "1,2,3", 10_000, "a manifest after the deletion");
  });

  it("keeps delivering across a nats-server restart, without delivering the same revision twice", async () => {
    const store = await open();
    await store.put(KEY, manifest(1));
    const { desired } = collect(store);
    await until(desired, (g) => g.join() === "1", 10_000, "the current manifest");

    await server.pause();
    await server.resume();
    // Written once the client is back; the put itself retries until then.
    await until(
      () =>
        store.put(KEY, manifest(2)).then(
          () => true,
          () => false,
        ),
      Boolean,
      20_000,
      "a write after the restart",
    );
    await until(desired, (g) => g.includes(2), 20_000, "the manifest written after the restart");
    expect(desired()).toEqual([1, 2]);
  }, 60_000);
});
