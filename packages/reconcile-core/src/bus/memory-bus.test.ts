import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEventType, InvalidEventError } from "./cloudevent.js";
import { MemoryEventBus } from "./memory-bus.js";

const ping = defineEventType("org.test.ping", z.object({ n: z.number() }));
const event = (n: number) => ping.create({ source: "test", data: { n } });
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe("MemoryEventBus", () => {
  it("delivers CloudEvents 1.0 envelopes to matching patterns only, in order", async () => {
    const bus = new MemoryEventBus();
    const got: Array<[number, string]> = [];
    bus.subscribe("agents.*.status", (e, subject) => {
      got.push([ping.parse(e).data.n, subject]);
    });
    bus.publish("agents.pi-1.status", event(1));
    bus.publish("agents.pi-1.heartbeat", event(2));
    bus.publish("agents.pi-2.status", event(3));
    await until(() => got.length === 2);
    expect(got).toEqual([
      [1, "agents.pi-1.status"],
      [3, "agents.pi-2.status"],
    ]);
    const e = event(4);
    expect(e).toMatchObject({
      specversion: "1.0",
      type: "org.test.ping",
      source: "test",
      datacontenttype: "application/json",
    });
    expect(Date.parse(e.time)).not.toBeNaN();
  });

  it("a slow subscriber neither blocks the publisher nor other subscribers, and drops its oldest events beyond its bound", async () => {
    const bus = new MemoryEventBus();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slowGot: number[] = [];
    const slow = bus.subscribe(
      ">",
      async (e) => {
        slowGot.push(ping.parse(e).data.n);
        await gate;
      },
      { queueLimit: 100 },
    );
    const fastGot: number[] = [];
    bus.subscribe(">", (e) => {
      fastGot.push(ping.parse(e).data.n);
    });

    bus.publish("x", event(0));
    await until(() => slowGot.length === 1); // the slow handler is now stuck on event 0
    const started = performance.now();
    for (let i = 1; i <= 10_000; i++) bus.publish("x", event(i));
    const publishMs = performance.now() - started;

    await until(() => fastGot.length === 10_001);
    expect(slow.pending).toBe(100);
    expect(slow.dropped).toBe(9_900);
    // Publishing 10,000 events did not wait on the stuck handler.
    expect(publishMs).toBeLessThan(2_000);

    release();
    await until(() => slowGot.length === 101);
    // It kept the newest 100.
    expect(slowGot.slice(1)).toEqual(Array.from({ length: 100 }, (_, i) => 9_901 + i));
  });

  it("a throwing handler does not stop later deliveries", async () => {
    const bus = new MemoryEventBus();
    const got: number[] = [];
    bus.subscribe("x", (e) => {
      const n = ping.parse(e).data.n;
      if (n === 1) throw new Error("boom");
      got.push(n);
    });
    for (const n of [1, 2, 3]) bus.publish("x", event(n));
    await until(() => got.length === 2);
    expect(got).toEqual([2, 3]);
  });

  it("unsubscribe stops delivery", async () => {
    const bus = new MemoryEventBus();
    const got: number[] = [];
    const sub = bus.subscribe("x", (e) => {
      got.push(ping.parse(e).data.n);
    });
    bus.publish("x", event(1));
    await until(() => got.length === 1);
    // Subscribed after `sub`, so event 2 would reach `sub` first: subscribers are served in
    // subscription order.
    const witnessed: number[] = [];
    bus.subscribe("x", (e) => {
      witnessed.push(ping.parse(e).data.n);
    });
    sub.unsubscribe();
    bus.publish("x", event(2));
    await until(() => witnessed.length === 1);
    expect(witnessed).toEqual([2]);
    expect(got).toEqual([1]);
  });

  it("typed parse rejects a malformed envelope with the field named", () => {
    expect(() => ping.parse({ ...event(1), data: { n: "one" } })).toThrow(InvalidEventError);
    expect(() => ping.parse({ ...event(1), data: { n: "one" } })).toThrow(/data\.n/);
    expect(() => ping.parse({ ...event(1), specversion: "0.3" })).toThrow(/specversion/);
  });
});
