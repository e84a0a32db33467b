import { randomUUID } from "node:crypto";
import {
  canonicalHash,
  type ReconcileContext,
  type ReconcileOutcome,
  RetryAfterError,
  silentLogger,
  TerminalError,
} from "@org/reconcile-core";
import { until } from "@org/reconcile-core/testing";
import type { z } from "zod";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  LABEL_OWNER,
  LABEL_RESOURCE,
  LABEL_SPEC_HASH,
  type ObservedWorkload,
  type WorkloadDriver,
} from "../driver.js";
import { workloadKind } from "../kind.js";
import type { LifecycleSpec, LifecycleSpecSchema } from "../lifecycle.js";

export type LifecycleInput = Partial<z.input<typeof LifecycleSpecSchema>>;

export interface WorkloadContractOptions<Spec extends LifecycleSpec> {
  /** A fresh driver for each test. */
  driver: () => WorkloadDriver<Spec> | Promise<WorkloadDriver<Spec>>;
  /** The driver's spec input for a workload running `sh -c <script>` with `lifecycle`. */
  spec: (script: string, lifecycle: LifecycleInput) => unknown;
  /** How long a workload may take to start or exit. Default 30 s. */
  timeoutMs?: number;
}

const ctx: ReconcileContext = {
  signal: new AbortController().signal,
  log: silentLogger,
  generation: 1,
};
const runOf = (w: ObservedWorkload | undefined) => `${w?.id}@${w?.startedAt?.getTime()}`;
const CRASH_BACKOFF = { baseMs: 500, capMs: 4_000, jitter: 0 };

/**
 * The behaviour the workload kind has on every driver: create, drift by spec hash, recreation
 * of a workload removed behind its back, crash-loop backoff, health replacement, run to
 * completion, and orphan listing by owner. Call it from a test file with a driver factory and
 * a spec builder; the health case is skipped for a driver that declares no `probe`.
 */
export function describeWorkloadContract<Spec extends LifecycleSpec>(
  name: string,
  options: WorkloadContractOptions<Spec>,
): void {
  const timeoutMs = options.timeoutMs ?? 30_000;

  describe(`workload kind contract: ${name}`, () => {
    let driver: WorkloadDriver<Spec>;
    const owners: string[] = [];
    const kindFor = () => {
      const owner = `contract-${randomUUID().slice(0, 8)}`;
      owners.push(owner);
      const kind = workloadKind({
        kindName: "Workload",
        driver,
        owner,
        minRunMs: 60_000,
        crashBackoff: CRASH_BACKOFF,
        pendingPollMs: 100,
      });
      const r = kind.reconciler;
      const observe = async (id: string) => (await r.observe(id, ctx)) ?? [];
      return {
        owner,
        kind,
        observe,
        parse: (script: string, lifecycle: LifecycleInput = {}) =>
          kind.specSchema.parse(options.spec(script, { stopGracePeriod: "1s", ...lifecycle })),
        reconcile: async (id: string, spec: Spec): Promise<ReconcileOutcome> =>
          (await r.reconcile({ kind: "Workload", id, spec }, await observe(id), ctx)) ?? {},
        /** Polls the workloads of `id` until `ok` holds. */
        waitFor: (id: string, ok: (ws: ObservedWorkload[]) => boolean, what: string) =>
          until(() => observe(id), ok, timeoutMs, what),
      };
    };
    /** Reconciles until the workload of `id` is running (a backend may report pending first). */
    const converge = async (k: ReturnType<typeof kindFor>, id: string, spec: Spec) => {
      const first = await k.reconcile(id, spec);
      const ws = await k.waitFor(id, (w) => w[0]?.state === "running", `${id} running`);
      return { first, workload: ws[0]! };
    };

    beforeEach(async () => {
      driver = await options.driver();
    });
    afterEach(async () => {
      for (const owner of owners.splice(0))
        for (const w of await driver.list({ [LABEL_OWNER]: owner })) {
          await driver.stop(w.id, 0);
          await driver.remove(w.id);
        }
    });

    it("creates a workload labelled with owner, resource and spec hash, and leaves a converged one alone", async () => {
      const k = kindFor();
      const spec = k.parse("exec sleep 300");
      const { first, workload } = await converge(k, "app", spec);
      expect(first).toMatchObject({ changed: true, details: { reason: "created" } });
      expect(workload.labels).toMatchObject({
        [LABEL_OWNER]: k.owner,
        [LABEL_RESOURCE]: "app",
        [LABEL_SPEC_HASH]: canonicalHash(spec),
      });
      const again = await k.reconcile("app", spec);
      expect(again).toMatchObject({ changed: false, details: { state: "running" } });
      expect((await k.observe("app")).map(runOf)).toEqual([runOf(workload)]);
    });

    it("replaces the workload when its spec changes, and recreates one removed behind its back", async () => {
      const k = kindFor();
      const { workload: before } = await converge(k, "app", k.parse("exec sleep 300"));
      const changed = k.parse("exec sleep 301");
      expect(await k.reconcile("app", changed)).toMatchObject({
        changed: true,
        details: { reason: "spec changed" },
      });
      const after = await k.waitFor(
        "app",
        (ws) => ws.length === 1 && ws[0]!.state === "running" && runOf(ws[0]) !== runOf(before),
        "replacement running",
      );
      expect(after[0]!.labels[LABEL_SPEC_HASH]).toBe(canonicalHash(changed));

      await driver.remove(after[0]!.id);
      await k.waitFor("app", (ws) => ws.length === 0, "workload removed");
      expect(await k.reconcile("app", changed)).toMatchObject({
        changed: true,
        details: { reason: "created" },
      });
      await k.waitFor("app", (ws) => ws[0]?.state === "running", "recreated workload running");
    });

    it("restarts a crashing workload at once, then backs off with a growing delay", async () => {
      const k = kindFor();
      const spec = k.parse("exit 3", { restartPolicy: "always" });
      await k.reconcile("crash", spec);
      const exited = async (previous: string) =>
        (
          await k.waitFor(
            "crash",
            (ws) => ws[0]?.state === "exited" && runOf(ws[0]) !== previous,
            "a quick exit",
          )
        )[0]!;
      const firstExit = await exited("");
      expect(firstExit.exitCode).toBe(3);
      expect(await k.reconcile("crash", spec)).toMatchObject({
        changed: true,
        details: { restarts: 1, lastExitCode: 3 },
      });

      const secondExit = await exited(runOf(firstExit));
      const second = await k.reconcile("crash", spec).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(RetryAfterError);
      expect((second as RetryAfterError).message).toMatch(
        /^workload exited with code 3 after \d+\.\ds, 2 times in a row: restarting in \ds$/,
      );
      expect((second as RetryAfterError).retryAfterMs).toBe(CRASH_BACKOFF.baseMs);

      // The controller calls again once the delay is over: now it restarts.
      expect(await k.reconcile("crash", spec)).toMatchObject({ changed: true });
      await exited(runOf(secondExit));
      const third = await k.reconcile("crash", spec).catch((e: unknown) => e);
      expect(third).toBeInstanceOf(RetryAfterError);
      expect((third as RetryAfterError).retryAfterMs).toBe(CRASH_BACKOFF.baseMs * 2);
    });

    it("replaces a workload whose health check fails `retries` times in a row, and shows health in its details; a driver that cannot probe refuses health checks", async () => {
      const k = kindFor();
      const marker = `/tmp/workload-contract-${randomUUID().slice(0, 8)}`;
      const healthCheck: NonNullable<LifecycleInput["healthCheck"]> = {
        type: "command",
        command: ["test", "-e", marker],
        interval: "200ms",
        timeout: "2s",
        retries: 2,
      };
      const script = `touch ${marker}; sleep 1; rm -f ${marker}; exec sleep 300`;
      if (!driver.probe) {
        // Never silently unhealthy-but-Ready: refused by the driver's spec schema, or terminally by the kind.
        const input = options.spec(script, { stopGracePeriod: "1s", healthCheck });
        const parsed = k.kind.specSchema.safeParse(input);
        if (parsed.success)
          await expect(k.reconcile("health", parsed.data)).rejects.toBeInstanceOf(TerminalError);
        expect(await k.observe("health")).toEqual([]);
        return;
      }
      const spec = k.parse(script, { healthCheck });
      const { workload: sick } = await converge(k, "health", spec);
      const healthSeen: unknown[] = [];
      const end = Date.now() + timeoutMs;
      let outcome: ReconcileOutcome = {};
      while (Date.now() < end) {
        outcome = await k.reconcile("health", spec);
        if (outcome.changed) break;
        healthSeen.push(outcome.details?.health);
        // Wait as the controller would: the kind says when the next probe is due.
        await new Promise((r) => setTimeout(r, outcome.requeueAfterMs ?? 100));
      }
      expect(healthSeen).toContain("healthy");
      expect(healthSeen).toContainEqual(expect.stringMatching(/^failing 1\/2: /));
      expect(outcome).toMatchObject({
        changed: true,
        details: { reason: expect.stringMatching(/^unhealthy: 2 failed command checks/) },
      });
      await k.waitFor(
        "health",
        (ws) => ws.length === 1 && ws[0]!.state === "running" && runOf(ws[0]) !== runOf(sick),
        "healthy replacement",
      );
    });

    it("reports run-to-completion workloads: completed on exit 0, Failed terminally on a non-zero exit with restartPolicy no", async () => {
      const k = kindFor();
      const cases = [
        { id: "no-ok", restartPolicy: "no", code: 0 },
        { id: "onfail-ok", restartPolicy: "on-failure", code: 0 },
        { id: "no-fail", restartPolicy: "no", code: 3 },
        { id: "onfail-fail", restartPolicy: "on-failure", code: 3 },
      ] as const;
      const specs = new Map(
        cases.map((c) => [c.id, k.parse(`exit ${c.code}`, { restartPolicy: c.restartPolicy })]),
      );
      for (const c of cases) await k.reconcile(c.id, specs.get(c.id)!);
      const ended = new Map<string, ObservedWorkload>();
      for (const c of cases)
        ended.set(
          c.id,
          (await k.waitFor(c.id, (ws) => ws[0]?.state === "exited", `${c.id} exited`))[0]!,
        );

      for (const id of ["no-ok", "onfail-ok"] as const) {
        expect(await k.reconcile(id, specs.get(id)!)).toMatchObject({
          changed: false,
          details: { completed: true, exitCode: 0, state: "exited" },
        });
        // Completed stays completed: not run again.
        await k.reconcile(id, specs.get(id)!);
        expect((await k.observe(id)).map(runOf)).toEqual([runOf(ended.get(id))]);
      }

      const failed = await k.reconcile("no-fail", specs.get("no-fail")!).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(TerminalError);
      expect((failed as Error).message).toMatch(
        /^workload exited with code 3 and restartPolicy is 'no'/,
      );
      expect((await k.observe("no-fail")).map(runOf)).toEqual([runOf(ended.get("no-fail"))]);

      expect(await k.reconcile("onfail-fail", specs.get("onfail-fail")!)).toMatchObject({
        changed: true,
        details: { lastExitCode: 3 },
      });
      await k.waitFor(
        "onfail-fail",
        (ws) => ws.length === 1 && runOf(ws[0]) !== runOf(ended.get("onfail-fail")),
        "on-failure workload run again",
      );
    });

    it("lists only its owner's resources, and never touches another owner's workloads", async () => {
      const a = kindFor();
      const b = kindFor();
      const specA = a.parse("exec sleep 300");
      await converge(a, "x", specA);
      await converge(a, "y", specA);
      const { workload: theirs } = await converge(b, "x", b.parse("exec sleep 300"));

      expect((await a.kind.reconciler.list!(ctx)).sort()).toEqual(["x", "y"]);
      expect(await b.kind.reconciler.list!(ctx)).toEqual(["x"]);

      await a.kind.reconciler.delete("x", specA, ctx);
      expect(await a.kind.reconciler.list!(ctx)).toEqual(["y"]);
      const still = await b.observe("x");
      expect(still.map((w) => [runOf(w), w.state])).toEqual([[runOf(theirs), "running"]]);
    });
  });
}
