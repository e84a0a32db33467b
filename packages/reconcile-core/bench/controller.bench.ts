import { diffResources, type Fingerprint } from "../src/controller/diff.js";
import {
  canonicalHash,
  Controller,
  KindRegistry,
  defineKind,
  type Manifest,
} from "../src/index.js";
import { z } from "zod";
import { type Row, printTable } from "@org/reconcile-core/bench";

const N = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc (npm run bench does)");

const noop = defineKind({
  name: "Noop",
  specSchema: z.object({ path: z.string(), content: z.string(), mode: z.number().int() }).strict(),
  reconciler: {
    observe: async () => undefined,
    reconcile: async () => ({ changed: false }),
    delete: async () => {},
  },
});

const manifest = (generation: number, tag: string): Manifest => ({
  generation,
  resources: Array.from({ length: N }, (_, i) => ({
    kind: "Noop",
    id: `file-${i}`,
    spec: {
      path: `/srv/app/${i}.conf`,
      content: `value=${i}${i % 10 === 0 ? tag : ""}`,
      mode: 0o644,
    },
  })),
});

function time<T>(fn: () => T): [T, number] {
  const start = performance.now();
  const result = fn();
  return [result, performance.now() - start];
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** The baseline: the same 10,000 observe+reconcile calls, awaited in plain batches of 16. */
async function rawCalls(): Promise<number> {
  const r = noop.reconciler;
  const m = manifest(1, "");
  return timeAsync(async () => {
    for (let i = 0; i < m.resources.length; i += 16) {
      await Promise.all(
        m.resources.slice(i, i + 16).map(async (res) => {
          const observed = await r.observe(res.id, undefined as never);
          await r.reconcile({ ...res, spec: res.spec as never }, observed, undefined as never);
        }),
      );
    }
  });
}

async function controllerRun(concurrency: number): Promise<{ ms: number; controller: Controller }> {
  const controller = new Controller({
    kinds: new KindRegistry([noop]),
    resyncIntervalMs: 0,
    concurrency,
  });
  const m = manifest(1, "");
  const ms = await timeAsync(async () => {
    controller.apply(m);
    await controller.idle();
  });
  const status = controller.status();
  if (
    status.observedGeneration !== 1 ||
    Object.values(status.resources).some((r) => r.state !== "Ready")
  ) {
    throw new Error("benchmark run did not converge");
  }
  return { ms, controller };
}

function fingerprints(m: Manifest): Map<string, Fingerprint> {
  return new Map(
    m.resources.map((r) => [
      r.id,
      { kind: r.kind, hash: canonicalHash({ kind: r.kind, spec: r.spec }) },
    ]),
  );
}

function heapUsed(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** Heap held by the controller per managed resource, measured alone so nothing else is collected meanwhile. */
async function heapPerResource(): Promise<{
  managed: number;
  manifestOnly: number;
  statusMs: number;
}> {
  const before = heapUsed();
  const m = manifest(1, "");
  const manifestOnly = heapUsed() - before;
  const controller = new Controller({ kinds: new KindRegistry([noop]), resyncIntervalMs: 0 });
  controller.apply(m);
  await controller.idle();
  const managed = heapUsed() - before - manifestOnly;
  const [, statusMs] = time(() => controller.status());
  controller.stop();
  // Keep the input manifest alive until here, so `managed` counts only what the controller holds.
  if (m.resources.length !== N) throw new Error("unreachable");
  return { managed: managed / N, manifestOnly: manifestOnly / N, statusMs };
}

export async function benchController(): Promise<void> {
  // First, on a quiet heap: later runs leave garbage that a gc in the middle would subtract.
  const heap = await heapPerResource();
  // Warm up the JIT on both paths before measuring.
  await rawCalls();
  (await controllerRun(16)).controller.stop();

  const rows: Row[] = [];
  const rawMs = await rawCalls();
  const baseline = {
    label: "bare observe+reconcile calls, batches of 16",
    value: (N / rawMs) * 1000,
  };
  for (const concurrency of [1, 16, 256]) {
    const { ms, controller } = await controllerRun(concurrency);
    rows.push({
      metric: `apply + reconcile 10,000 no-op resources, concurrency ${concurrency}`,
      value: (N / ms) * 1000,
      unit: "res/s",
      baseline,
      higherIsBetter: true,
    });
    if (concurrency === 16) {
      // Steady state: a resync re-observes every converged resource (the drift check).
      const resyncMs = await timeAsync(async () => {
        await controller.resync();
        await controller.idle();
      });
      rows.push({
        metric: "resync (drift check) of 10,000 converged resources",
        value: (N / resyncMs) * 1000,
        unit: "res/s",
        baseline,
        higherIsBetter: true,
      });
    }
    controller.stop();
  }

  const a = manifest(1, "");
  const b = manifest(2, "-changed");
  const [fa, hashMs] = time(() => fingerprints(a));
  const fb = fingerprints(b);
  const [diff, diffMs] = time(() => diffResources(fb, fa));
  if (diff.update.length !== N / 10)
    throw new Error(`expected ${N / 10} updates, got ${diff.update.length}`);
  const [, stringifyMs] = time(() => a.resources.map((r) => JSON.stringify(r.spec)));
  rows.push({
    metric: "canonical hash of 10,000 specs",
    value: hashMs,
    unit: "ms",
    baseline: { label: "JSON.stringify of the same specs", value: stringifyMs },
  });
  const [, mapMs] = time(() => new Map(a.resources.map((r) => [r.id, r])));
  rows.push({
    metric: "diff of two 10,000-resource manifests (hashed)",
    value: diffMs,
    unit: "ms",
    baseline: { label: "building one Map by id", value: mapMs },
  });

  rows.push({
    metric: "heap per managed resource (controller state)",
    value: heap.managed,
    unit: "B",
    baseline: { label: "the manifest's own resource objects", value: heap.manifestOnly },
  });
  rows.push({
    metric: "build ManifestStatus of 10,000 resources",
    value: heap.statusMs,
    unit: "ms",
  });
  printTable("reconcile-core: controller", rows);
}
