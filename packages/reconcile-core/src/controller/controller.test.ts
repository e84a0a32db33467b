import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { MemoryEventBus } from "../bus/memory-bus.js";
import { defineKind, KindRegistry, TerminalError } from "../resource/kind.js";
import type { Manifest } from "../resource/manifest.js";
import type { ManifestStatus } from "../resource/status.js";
import { Controller, type ControllerOptions } from "./controller.js";
import { driftCorrectedEvent, resourceStatusEvent, rollbackEvent } from "./events.js";

/** A real (in-memory) world the `Value` kind converges: id -> value. */
class World {
  readonly values = new Map<string, string>();
  /** Ids whose reconcile throws, and how. */
  readonly failing = new Map<string, () => Error>();
  /** Ids whose reconcile waits for this promise. */
  readonly gates = new Map<string, Promise<void>>();
  readonly active = new Map<string, number>();
  maxActivePerId = 0;
  reconciles = 0;
  deletes: string[] = [];

  kind() {
    return defineKind({
      name: "Value",
      specSchema: z.object({ value: z.string(), note: z.string().default("") }).strict(),
      reconciler: {
        observe: async (id: string) => this.values.get(id),
        reconcile: async (resource, observed) => {
          const n = (this.active.get(resource.id) ?? 0) + 1;
          this.active.set(resource.id, n);
          this.maxActivePerId = Math.max(this.maxActivePerId, n);
          try {
            this.reconciles++;
            await this.gates.get(resource.id);
            const failure = this.failing.get(resource.id);
            if (failure) throw failure();
            if (observed === resource.spec.value)
              return { changed: false, details: { value: observed } };
            this.values.set(resource.id, resource.spec.value);
            return { changed: true, details: { value: resource.spec.value } };
          } finally {
            this.active.set(resource.id, (this.active.get(resource.id) ?? 1) - 1);
          }
        },
        delete: async (id: string) => {
          this.deletes.push(id);
          this.values.delete(id);
        },
        list: async () => [...this.values.keys()],
      },
    });
  }
}

const value = (id: string, v: string) => ({ kind: "Value", id, spec: { value: v } });
const manifest = (generation: number, ...resources: Manifest["resources"]): Manifest => ({
  generation,
  resources,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(read: () => T, ok: (v: T) => boolean, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (ok(v)) return v;
    if (Date.now() > end)
      throw new Error(`condition not met within ${ms} ms; last value: ${JSON.stringify(v)}`);
    await sleep(5);
  }
}
const fast = { baseMs: 20, capMs: 200, jitter: 0 };

const controllers: Controller[] = [];
function start(world: World, options: Partial<ControllerOptions> = {}) {
  const controller = new Controller({
    kinds: new KindRegistry([world.kind()]),
    backoff: fast,
    resyncIntervalMs: 0,
    statusIntervalMs: 0,
    ...options,
  });
  controller.start();
  controllers.push(controller);
  return controller;
}
afterEach(() => {
  for (const c of controllers.splice(0)) c.stop();
  vi.useRealTimers();
});
const condition = (status: ManifestStatus, type: string) =>
  status.conditions.find((c) => c.type === type)?.status;

describe("Controller", () => {
  it("converges a manifest and reports Ready at its generation", async () => {
    const world = new World();
    const controller = start(world);
    expect(controller.apply(manifest(1, value("a", "1"), value("b", "2")))).toEqual({
      applied: true,
      generation: 1,
    });
    await controller.idle();
    const status = controller.status();
    expect(world.values).toEqual(
      new Map([
        ["a", "1"],
        ["b", "2"],
      ]),
    );
    expect(status).toMatchObject({ manifestGeneration: 1, observedGeneration: 1 });
    expect(status.resources.a).toMatchObject({
      state: "Ready",
      kind: "Value",
      generation: 1,
      details: { value: "1" },
    });
    expect(condition(status, "Ready")).toBe("True");
    expect(condition(status, "Degraded")).toBe("False");
  });

  it("deletes a resource that a new generation dropped, and updates a changed one", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(manifest(1, value("a", "1"), value("b", "2")));
    await controller.idle();
    controller.apply(manifest(2, value("a", "changed")));
    await controller.idle();
    expect(world.values).toEqual(new Map([["a", "changed"]]));
    expect(world.deletes).toEqual(["b"]);
    const status = controller.status();
    expect(Object.keys(status.resources)).toEqual(["a"]);
    expect(status.observedGeneration).toBe(2);
  });

  it("reports an unknown kind as Unknown and converges the rest", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(manifest(1, value("a", "1"), { kind: "Gadget", id: "g", spec: {} }));
    await controller.idle();
    const status = controller.status();
    expect(status.resources.g).toMatchObject({
      state: "Unknown",
      kind: "Gadget",
      reason: "unknown kind 'Gadget'",
    });
    expect(status.resources.a?.state).toBe("Ready");
    expect(status.observedGeneration).toBe(1);
    expect(condition(status, "Degraded")).toBe("True");
    expect(status.conditions.find((c) => c.type === "Degraded")?.message).toContain("unknown: g");
  });

  it("fails an invalid spec terminally, naming the field, without retrying", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(
      manifest(1, { kind: "Value", id: "bad", spec: { value: 7 } }, value("ok", "1")),
    );
    await controller.idle();
    const bad = controller.status().resources.bad;
    expect(bad).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("invalid Value spec: value:"),
    });
    expect(bad && "retryAt" in bad ? bad.retryAt : undefined).toBeUndefined();
    expect(world.reconciles).toBe(1);
  });

  it("refuses a manifest older than the one received, and accepts a redelivery of the same one", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(manifest(5, value("a", "1")));
    expect(controller.apply(manifest(5, value("a", "1")))).toEqual({
      applied: true,
      generation: 5,
    });
    expect(controller.apply(manifest(4, value("a", "old")))).toEqual({
      applied: false,
      reason: "generation 4 is not newer than generation 5, already received",
    });
    expect(controller.apply(manifest(5, value("a", "other")))).toMatchObject({ applied: false });
    expect(
      controller.apply({ generation: 6, resources: [value("x", "1"), value("x", "2")] }),
    ).toEqual({
      applied: false,
      reason: "invalid manifest: resources: duplicate resource ids: x",
    });
    await controller.idle();
    expect(world.values.get("a")).toBe("1");
  });

  it("retries a failing resource with growing backoff, and a failure never delays healthy resources", async () => {
    const world = new World();
    world.failing.set("broken", () => new Error("disk full"));
    let release!: () => void;
    world.gates.set(
      "slow",
      new Promise((r) => {
        release = r;
      }),
    );
    const controller = start(world, { concurrency: 3 });
    const healthy = Array.from({ length: 50 }, (_, i) => value(`h${i}`, String(i)));
    controller.apply(manifest(1, value("broken", "x"), value("slow", "x"), ...healthy));

    // All 50 healthy resources become Ready while one keeps failing and one hangs.
    const status = await until(
      () => controller.status(),
      (s) => healthy.every((h) => s.resources[h.id]?.state === "Ready"),
    );
    expect(status.resources.slow?.state).toBe("Reconciling");

    const failed = await until(
      () => controller.status().resources.broken,
      (s) => s?.state === "Failed" && s.attempts >= 3,
    );
    expect(failed).toMatchObject({
      state: "Failed",
      error: "disk full",
      retryAt: expect.any(String),
    });
    release();

    // Recovery: the next retry succeeds and the failure count is forgotten.
    world.failing.delete("broken");
    const recovered = await until(
      () => controller.status(),
      (s) => s.resources.broken?.state === "Ready" && s.resources.slow?.state === "Ready",
    );
    expect(condition(recovered, "Ready")).toBe("True");
  });

  it("spaces retries by the backoff policy", async () => {
    vi.useFakeTimers();
    const world = new World();
    const attempts: number[] = [];
    world.failing.set("a", () => {
      attempts.push(Date.now());
      return new Error("nope");
    });
    const controller = start(world, { backoff: { baseMs: 40, capMs: 160, jitter: 0 } });
    controller.apply(manifest(1, value("a", "1")));
    await controller.idle();
    await vi.advanceTimersByTimeAsync(40 + 80 + 160 + 160 - 1);
    expect(attempts).toHaveLength(4); // the fifth attempt is not early
    await vi.advanceTimersByTimeAsync(1);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps).toEqual([40, 80, 160, 160]);
  });

  it("does not retry a TerminalError", async () => {
    vi.useFakeTimers();
    const world = new World();
    world.failing.set("a", () => new TerminalError("scripts are disabled"));
    const controller = start(world);
    controller.apply(manifest(1, value("a", "1")));
    await controller.idle();
    expect(controller.status().resources.a?.state).toBe("Failed");
    // Any retry, even at the longest backoff, would have run by now.
    await vi.advanceTimersByTimeAsync(fast.capMs * 10);
    expect(world.reconciles).toBe(1);
    expect(controller.status().resources.a).not.toHaveProperty("retryAt");
  });

  it("counts attempts, not resync evaluations, of a terminal failure", async () => {
    const world = new World();
    world.failing.set("a", () => new TerminalError("scripts are disabled"));
    const controller = start(world);
    controller.apply(manifest(1, value("a", "1")));
    await controller.idle();
    const first = controller.status().resources.a;
    expect(first).toMatchObject({ state: "Failed", attempts: 1 });
    for (let i = 0; i < 3; i++) {
      await controller.resync();
      await controller.idle();
    }
    expect(world.reconciles).toBe(4); // re-evaluated at each resync (a fix by hand would be seen)...
    expect(controller.status().resources.a).toEqual(first); // ...but never retried
  });

  it("repairs drift on resync even when the manifest did not change, and says so on the bus", async () => {
    const world = new World();
    const bus = new MemoryEventBus();
    const drift: string[] = [];
    bus.subscribe("agent.drift.>", (e) => {
      drift.push(driftCorrectedEvent.parse(e).data.id);
    });
    const controller = start(world, {
      resyncIntervalMs: 50,
      events: { bus, source: "test", subjectPrefix: "agent" },
    });
    controller.apply(manifest(1, value("a", "1"), value("b", "2")));
    await controller.idle();
    world.values.set("a", "tampered");
    world.values.delete("b");
    await until(
      () => [world.values.get("a"), world.values.get("b")],
      ([a, b]) => a === "1" && b === "2",
    );
    await until(
      () => drift.length,
      (n) => n === 2,
    );
    expect(drift.sort()).toEqual(["a", "b"]);
  });

  it("never runs two reconciles of one resource at once, and ends on the newest spec", async () => {
    const world = new World();
    let release!: () => void;
    world.gates.set(
      "a",
      new Promise((r) => {
        release = r;
      }),
    );
    const controller = start(world, { concurrency: 8 });
    for (let g = 1; g <= 20; g++) controller.apply(manifest(g, value("a", `v${g}`)));
    // The first reconcile is held at its gate while the 19 newer generations arrive.
    await until(
      () => world.active.get("a"),
      (n) => n !== undefined && n >= 1,
    );
    release();
    await controller.idle();
    expect(world.maxActivePerId).toBe(1);
    expect(world.values.get("a")).toBe("v20");
    expect(controller.status().resources.a).toMatchObject({ state: "Ready", generation: 20 });
    expect(controller.status().observedGeneration).toBe(20);
  });

  it("coalesces a burst of status changes into one update carrying the latest state", async () => {
    vi.useFakeTimers();
    const world = new World();
    const controller = start(world, { statusIntervalMs: 200 });
    const updates: Array<{ at: number; status: ManifestStatus }> = [];
    controller.onStatus((status) => updates.push({ at: Date.now(), status }));
    const resources = Array.from({ length: 200 }, (_, i) => value(`r${i}`, "x"));
    controller.apply(manifest(1, ...resources));
    await controller.idle();
    // 200 resources x 3 transitions happened before the first update went out: one update.
    await vi.advanceTimersByTimeAsync(0);
    expect(updates).toHaveLength(1);
    const first = updates[0]!;
    expect(first.status.observedGeneration).toBe(1);
    expect(Object.values(first.status.resources).every((r) => r.state === "Ready")).toBe(true);

    // The next burst waits out the interval since the last update, then goes out as one.
    controller.apply(manifest(2, ...resources.map((r) => value(r.id, "y"))));
    await controller.idle();
    await vi.advanceTimersByTimeAsync(199);
    expect(updates).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(updates).toHaveLength(2);
    const second = updates[1]!;
    expect(second.at).toBe(first.at + 200);
    expect(second.status.observedGeneration).toBe(2);
    expect(
      Object.values(second.status.resources).every(
        (r) => r.state === "Ready" && r.details?.value === "y",
      ),
    ).toBe(true);
  });

  it("rolls back to the last converged generation after N consecutive failures", async () => {
    const world = new World();
    const bus = new MemoryEventBus();
    const rollbacks: Array<{ from: number; to: number }> = [];
    bus.subscribe("agent.rollback", (e) => {
      rollbacks.push(rollbackEvent.parse(e).data);
    });
    const controller = start(world, {
      failurePolicy: { type: "rollback", afterFailures: 3 },
      events: { bus, source: "test", subjectPrefix: "agent" },
    });
    controller.apply(manifest(1, value("a", "good"), value("b", "keep")));
    await controller.idle();
    expect(controller.lastConvergedGeneration).toBe(1);

    world.failing.set("new", () => new Error("cannot start"));
    controller.apply(manifest(2, value("a", "next"), value("new", "x")));
    const status = await until(
      () => controller.status(),
      (s) => s.conditions.some((c) => c.type === "RolledBack"),
    );
    await controller.idle();
    expect(world.values).toEqual(
      new Map([
        ["a", "good"],
        ["b", "keep"],
      ]),
    );
    expect(status.conditions.find((c) => c.type === "RolledBack")?.message).toContain(
      "generation 2 rolled back to 1: resource 'new' failed 3 times in a row: cannot start",
    );
    await until(
      () => rollbacks.length,
      (n) => n === 1,
    );
    expect(rollbacks[0]).toMatchObject({ from: 2, to: 1 });
    // The failed generation is not retried; a newer one is applied as usual.
    expect(controller.apply(manifest(2, value("a", "next"), value("new", "x")))).toMatchObject({
      applied: true,
    });
    world.failing.clear();
    controller.apply(manifest(3, value("a", "three")));
    await until(
      () => controller.status(),
      (s) => s.resources.a?.state === "Ready" && s.observedGeneration === 3,
    );
    await controller.idle();
    expect(world.values).toEqual(new Map([["a", "three"]]));
    expect(controller.status().conditions.some((c) => c.type === "RolledBack")).toBe(false);
  });

  it("keeps retrying by default instead of rolling back", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(manifest(1, value("a", "good")));
    await controller.idle();
    world.failing.set("a", () => new Error("bad"));
    controller.apply(manifest(2, value("a", "bad")));
    await until(
      () => controller.status().resources.a,
      (s) => s?.state === "Failed" && s.attempts >= 4,
    );
    expect(controller.status().conditions.some((c) => c.type === "RolledBack")).toBe(false);
  });

  it("collects orphans a reconciler lists once a manifest is applied", async () => {
    const world = new World();
    world.values.set("left-over", "from a previous run");
    world.values.set("a", "1");
    const controller = start(world);
    // Nothing applied yet, so nothing is an orphan: a collection pass and the queue both settle without deleting.
    await controller.resync();
    await controller.idle();
    expect(world.values.has("left-over")).toBe(true);
    expect(world.deletes).toEqual([]);
    controller.apply(manifest(1, value("a", "1")));
    await controller.resync();
    await controller.idle();
    expect(world.values).toEqual(new Map([["a", "1"]]));
    expect(world.deletes).toEqual(["left-over"]);
  });
});

describe("Controller reconcileNow (an event source says a resource changed)", () => {
  it("never cuts a failure's backoff short", async () => {
    vi.useFakeTimers();
    const world = new World();
    const controller = start(world, { backoff: { baseMs: 60_000, capMs: 60_000, jitter: 0 } });
    controller.apply(manifest(1, value("a", "1")));
    await vi.advanceTimersByTimeAsync(0);
    await controller.idle();
    expect(controller.status().resources.a?.state).toBe("Ready");

    // Failed, with a minute of backoff ahead: an event does not bring the retry forward.
    world.failing.set("a", () => new Error("engine busy"));
    expect(controller.reconcileNow("a")).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    await controller.idle();
    expect(controller.status().resources.a?.state).toBe("Failed");
    const afterFailure = world.reconciles;
    controller.reconcileNow("a");
    await vi.advanceTimersByTimeAsync(59_000);
    await controller.idle();
    expect(world.reconciles).toBe(afterFailure);
    world.failing.delete("a");
    await vi.advanceTimersByTimeAsync(1_000);
    await controller.idle();
    expect(world.reconciles).toBe(afterFailure + 1);
    expect(controller.status().resources.a?.state).toBe("Ready");
    expect(controller.reconcileNow("unknown")).toBe(false);
  });
});

describe("Controller with unknown kinds", () => {
  it("drops an unknown-kind resource that a new generation removes, and observes the generation", async () => {
    const world = new World();
    const controller = start(world);
    controller.apply(manifest(1, value("a", "1"), { kind: "Gadget", id: "g", spec: {} }));
    await controller.idle();
    controller.apply(manifest(2, value("a", "1")));
    await controller.idle();
    const status = controller.status();
    expect(Object.keys(status.resources)).toEqual(["a"]);
    expect(status.observedGeneration).toBe(2);
    expect(status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
  });
});

describe("Controller with work that takes a while", () => {
  /** A `Job` kind: reconcile starts the job and reports progress until the test finishes it. */
  class Jobs {
    readonly started = new Set<string>();
    readonly finished = new Set<string>();
    polls = 0;
    deleted: Array<[string, unknown]> = [];

    kind() {
      return defineKind({
        name: "Job",
        specSchema: z.object({ task: z.string() }).strict(),
        reconciler: {
          observe: async (id: string) => ({
            started: this.started.has(id),
            finished: this.finished.has(id),
          }),
          reconcile: async ({ id, spec }, observed) => {
            this.polls++;
            if (observed?.finished) return { changed: false, details: { result: "done" } };
            this.started.add(id);
            return {
              progressing: true,
              details: { running: spec.task },
              requeueAfterMs: 10,
            };
          },
          delete: async (id: string, spec: unknown) => {
            this.deleted.push([id, spec]);
          },
        },
      });
    }
  }

  it("keeps progressing work Reconciling with its details, out of the observed generation, without holding a worker, until it finishes", async () => {
    const world = new World();
    const jobs = new Jobs();
    const bus = new MemoryEventBus();
    const jobStatuses: string[] = [];
    bus.subscribe("agent.status.Job.>", (e) => {
      jobStatuses.push(resourceStatusEvent.parse(e).data.status.state);
    });
    const controller = new Controller({
      kinds: new KindRegistry([world.kind(), jobs.kind()]),
      backoff: fast,
      resyncIntervalMs: 0,
      statusIntervalMs: 0,
      concurrency: 1,
      events: { bus, source: "test", subjectPrefix: "agent" },
    });
    controller.start();
    controllers.push(controller);
    controller.apply(
      manifest(1, { kind: "Job", id: "job", spec: { task: "migrate" } }, value("b", "2")),
    );
    // One worker, and the job is still running: the other resource converges anyway.
    await until(
      () => controller.status().resources.b?.state,
      (s) => s === "Ready",
    );
    await controller.idle();
    await until(
      () => jobs.polls,
      (n) => n >= 5,
    );
    let status = controller.status();
    expect(status.resources.job).toMatchObject({
      state: "Reconciling",
      generation: 1,
      details: { running: "migrate" },
    });
    expect(status.observedGeneration).toBe(0);
    expect(condition(status, "Ready")).toBe("False");
    expect(condition(status, "Reconciling")).toBe("True");
    // Polls that saw nothing new publish nothing: Reconciling, then Reconciling with details.
    expect(jobStatuses).toEqual(["Reconciling", "Reconciling"]);

    jobs.finished.add("job");
    status = await until(
      () => controller.status(),
      (s) => s.resources.job?.state === "Ready",
    );
    expect(status.resources.job).toMatchObject({ details: { result: "done" } });
    expect(status.observedGeneration).toBe(1);
    expect(condition(status, "Ready")).toBe("True");
  });

  it("brings the next look at work under way forward when an event says it changed", async () => {
    vi.useFakeTimers();
    const jobs = new Jobs();
    const controller = new Controller({
      kinds: new KindRegistry([jobs.kind()]),
      backoff: fast,
      resyncIntervalMs: 0,
      statusIntervalMs: 0,
    });
    controllers.push(controller);
    controller.start();
    controller.apply(manifest(1, { kind: "Job", id: "j", spec: { task: "build" } }));
    await vi.advanceTimersByTimeAsync(0);
    await controller.idle();
    const polls = jobs.polls;
    jobs.finished.add("j");
    // The requeue is 10 ms away; the event makes it now, without moving the clock.
    controller.reconcileNow("j");
    await vi.advanceTimersByTimeAsync(0);
    await controller.idle();
    expect(jobs.polls).toBe(polls + 1);
    expect(controller.status().resources.j?.state).toBe("Ready");
  });

  it("deletes work under way with the spec it was started with", async () => {
    const jobs = new Jobs();
    const controller = new Controller({
      kinds: new KindRegistry([jobs.kind()]),
      backoff: fast,
      resyncIntervalMs: 0,
      statusIntervalMs: 0,
    });
    controller.start();
    controllers.push(controller);
    controller.apply(manifest(1, { kind: "Job", id: "job", spec: { task: "migrate" } }));
    await until(
      () => controller.status().resources.job?.state,
      (s) => s === "Reconciling" && jobs.started.has("job"),
    );
    controller.apply(manifest(2));
    await until(
      () => controller.status(),
      (s) => s.observedGeneration === 2 && s.resources.job === undefined,
    );
    expect(jobs.deleted).toEqual([["job", { task: "migrate" }]]);
  });
});

describe("Controller observing", () => {
  it("gives observe the desired resource, so a kind whose spec says where to look can look there", async () => {
    const files = new Map([["/srv/a.conf", "old"]]);
    const looked: string[] = [];
    const kind = defineKind({
      name: "At",
      specSchema: z.object({ path: z.string(), content: z.string() }).strict(),
      reconciler: {
        observe: async (_id: string, _ctx, desired) => {
          if (!desired) return undefined;
          looked.push(desired.spec.path);
          return files.get(desired.spec.path);
        },
        reconcile: async ({ spec }, observed) => {
          if (observed === spec.content) return { changed: false };
          files.set(spec.path, spec.content);
          return { changed: true, details: { was: observed ?? null } };
        },
        delete: async () => {},
      },
    });
    const controller = new Controller({
      kinds: new KindRegistry([kind]),
      resyncIntervalMs: 0,
      statusIntervalMs: 0,
    });
    controllers.push(controller);
    controller.apply(
      manifest(1, { kind: "At", id: "conf", spec: { path: "/srv/a.conf", content: "new" } }),
    );
    await controller.idle();
    expect(looked).toEqual(["/srv/a.conf"]);
    expect(controller.status().resources.conf).toMatchObject({
      state: "Ready",
      details: { was: "old" },
    });
    expect(files.get("/srv/a.conf")).toBe("new");
  });
});
