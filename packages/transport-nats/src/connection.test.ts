import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { closeNats, connectNats } from "./connection.js";
import { shouldRunNatsTests, TestNatsServer } from "./testing/nats-server.js";

const servers: TestNatsServer[] = [];
const connections: NatsConnection[] = [];
afterEach(async () => {
  for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
  for (const s of servers.splice(0)) await s.stop();
});

async function natsServer(): Promise<TestNatsServer> {
  const server = await TestNatsServer.start();
  servers.push(server);
  return server;
}

/** Resolves with the first status of `type` the connection reports. */
async function nextStatus(nc: NatsConnection, type: string): Promise<void> {
  for await (const status of nc.status()) if (status.type === type) return;
}

describe.runIf(shouldRunNatsTests())("connecting and closing while the server is away", () => {
  it("closeNats closes a connection whose server has gone, within its grace", async () => {
    const server = await natsServer();
    const nc = await connectNats({ servers: server.url, reconnectWaitMs: 100 });
    connections.push(nc);
    nc.subscribe("anything.>");
    const disconnected = nextStatus(nc, "disconnect");
    await server.pause();
    await disconnected;

    const startedAt = Date.now();
    await closeNats(nc, 300);
    // nats.js's drain() alone would reject here and leave the connection reconnecting for ever.
    expect(nc.isClosed()).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(300 + 500 + 200);
  });

  it("a first connection with a signal waits for its server until the signal aborts", async () => {
    const server = await natsServer();
    await server.pause(); // its port: nothing listens there now
    const options = { servers: server.url, reconnectWaitMs: 100 };

    const abandoned = new AbortController();
    const gaveUp = connectNats(options, { signal: abandoned.signal });
    const startedAt = Date.now();
    abandoned.abort(new Error("the agent stopped before NATS answered"));
    await expect(gaveUp).rejects.toThrow("the agent stopped before NATS answered");
    expect(Date.now() - startedAt).toBeLessThan(200);

    // Not aborted: refused attempts are retried until the server comes.
    const kept = new AbortController();
    const waiting = connectNats(options, { signal: kept.signal });
    await server.resume();
    const nc = await waiting;
    connections.push(nc);
    // Once connected, the signal no longer concerns the connection.
    kept.abort();
    await nc.flush();
    expect(nc.isClosed()).toBe(false);
  });

  it("refuses a first-connect timeout and a signal together, saying which to choose", () => {
    expect(() =>
      connectNats(
        { servers: "nats://127.0.0.1:1" },
        { firstConnectTimeoutMs: 100, signal: new AbortController().signal },
      ),
    ).toThrow(/firstConnectTimeoutMs .* or signal .*, not both/);
  });
});
