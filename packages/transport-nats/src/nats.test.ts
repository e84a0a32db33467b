import { connect, type NatsConnection } from "@nats-io/transport-node";
import { defineEventType } from "@org/reconcile-core";
import { describeKvContract, takeEntries, until } from "@org/reconcile-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectNats } from "./connection.js";
import { NatsEventBus } from "./event-bus.js";
import { NatsKvStore } from "./kv-store.js";
import { describeNats } from "./options.js";
import { shouldRunNatsTests, TestNatsServer } from "./testing/nats-server.js";

const ping = defineEventType("org.test.ping", z.object({ n: z.number() }));
let server: TestNatsServer;
const connections: NatsConnection[] = [];
let bucketNo = 0;

async function client(): Promise<NatsConnection> {
  const nc = await connectNats({ servers: server.url, reconnectWaitMs: 100 });
  connections.push(nc);
  return nc;
}

describe.runIf(shouldRunNatsTests())("NATS transport (real nats-server)", () => {
  beforeAll(async () => {
    server = await TestNatsServer.start();
  });
  afterAll(async () => {
    for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
    await server?.stop();
  });

  describeKvContract("NATS JetStream KV", async () =>
    NatsKvStore.open(await client(), `contract${++bucketNo}`, { history: 5 }),
  );

  it("carries CloudEvents between two connections by subject pattern", async () => {
    const a = new NatsEventBus().attach(await client());
    const b = new NatsEventBus().attach(await client());
    const got: Array<[number, string]> = [];
    b.subscribe("choria.machine.pi-7.>", (event, subject) => {
      got.push([ping.parse(event).data.n, subject]);
    });
    await connections.at(-1)!.flush();
    a.publish("choria.machine.pi-7.M.transition", ping.create({ source: "t", data: { n: 1 } }));
    a.publish("choria.machine.pi-8.M.transition", ping.create({ source: "t", data: { n: 2 } }));
    a.publish("choria.machine.pi-7.M.watcher.exec.w", ping.create({ source: "t", data: { n: 3 } }));
    await until(
      () => got.length,
      (n) => n === 2,
    );
    expect(got).toEqual([
      [1, "choria.machine.pi-7.M.transition"],
      [3, "choria.machine.pi-7.M.watcher.exec.w"],
    ]);
  });

  it("skips and counts messages that are not CloudEvents", async () => {
    const nc = await client();
    const bus = new NatsEventBus().attach(nc);
    const got: number[] = [];
    bus.subscribe("junk.>", (e) => {
      got.push(ping.parse(e).data.n);
    });
    await nc.flush();
    nc.publish("junk.a", "not json");
    nc.publish("junk.a", JSON.stringify({ specversion: "0.3", id: "x" }));
    bus.publish("junk.a", ping.create({ source: "t", data: { n: 7 } }));
    await until(
      () => got.length,
      (n) => n === 1,
    );
    expect(bus.invalidReceived).toBe(2);
  });

  it("buffers events while NATS is down, sends them in order on reconnect, and keeps a KV watch alive", async () => {
    const publisherConn = await client();
    const publisher = new NatsEventBus({ offlineBuffer: 50 }).attach(publisherConn);
    const kv = await NatsKvStore.open(publisherConn, `restart${++bucketNo}`);
    await kv.put("desired-state.pi-1", new TextEncoder().encode("v1"));
    const watch = await kv.watch("desired-state.>");
    expect((await takeEntries(watch, 1))[0]?.revision).toBeGreaterThan(0);

    await server.pause();
    await until(
      () => publisher.connected,
      (c) => !c,
      10_000,
      "the client noticing the disconnect",
    );
    for (let n = 0; n < 60; n++)
      publisher.publish("offline.test", ping.create({ source: "t", data: { n } }));
    expect(publisher.buffered).toBe(50);
    expect(publisher.droppedOffline).toBe(10);

    await server.resume();
    const subscriberConn = await client();
    const subscriber = new NatsEventBus().attach(subscriberConn);
    const got: number[] = [];
    subscriber.subscribe("offline.test", (e) => {
      got.push(ping.parse(e).data.n);
    });
    await subscriberConn.flush();
    // Reconnection and flushing happen on their own; wait for the buffer to empty.
    await until(
      () => publisher.buffered,
      (n) => n === 0,
      15_000,
      "offline buffer flushed",
    );
    publisher.publish("offline.test", ping.create({ source: "t", data: { n: 999 } }));
    await until(
      () => got.at(-1),
      (n) => n === 999,
      10_000,
    );

    // The KV watch resumed: a change made after the restart arrives.
    await kv.put("desired-state.pi-1", new TextEncoder().encode("v2"));
    const [next] = await takeEntries(watch, 1, 15_000);
    expect(new TextDecoder().decode(next?.value)).toBe("v2");
    watch.stop();
  }, 60_000);

  it("never puts credentials in the connection description", () => {
    expect(
      describeNats({ servers: "nats://alice:s3cret@10.0.0.1:4222", user: "alice", pass: "s3cret" }),
    ).toBe("nats://10.0.0.1:4222");
  });

  it("authenticates with user and password from the options, and is refused without them", async () => {
    const secured = await TestNatsServer.start(["--user", "agent", "--pass", "s3cret"]);
    try {
      const nc = await connectNats({ servers: secured.url, user: "agent", pass: "s3cret" });
      expect(nc.isClosed()).toBe(false);
      await nc.close();
      await expect(
        connect({ servers: secured.url, user: "agent", pass: "wrong", reconnect: false }),
      ).rejects.toThrow(/Authorization/i);
    } finally {
      await secured.stop();
    }
  });
});
