import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { processAlive as alive } from "@org/workloads";
import { afterEach, describe, expect, it } from "vitest";
import { parseAgentDefinition } from "../src/agent-definition.js";
import { Supervisor } from "../src/supervisor.js";

const supervisors: Supervisor[] = [];
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.stop();
});

function worker(replicas: number) {
  const result = parseAgentDefinition({
    apiVersion: "agent.dev/v1",
    kind: "Agent",
    metadata: { name: "worker", version: "1.0.0" },
    spec: {
      command: [
        "sh",
        "-c",
        "echo started; echo oops >&2; while true; do echo working; sleep 0.2; done",
      ],
      replicas,
      stopGracePeriod: "1s",
    },
  });
  if (!result.ok) throw new Error(result.error);
  return result.agent;
}

async function start(stateDir: string) {
  const supervisor = new Supervisor({
    stateDir,
    strategy: "process",
    log: silentLogger,
    resyncIntervalMs: 200,
  });
  supervisors.push(supervisor);
  await supervisor.start();
  return supervisor;
}

const pidOf = async (stateDir: string, id: string) =>
  (JSON.parse(await readFile(join(stateDir, "processes", `${id}.json`), "utf8")) as { pid: number })
    .pid;

describe("process strategy (no Docker)", () => {
  it("runs replicas as supervised local processes with logs, restarts one that dies, and a restarted supervisor adopts them", async () => {
    const stateDir = await tempDir("process-state");
    let supervisor = await start(stateDir);
    await supervisor.apply(worker(2));
    expect((await supervisor.waitReady("worker", 10_000)).ready).toBe(true);
    const [a, b] = [await pidOf(stateDir, "worker-0"), await pidOf(stateDir, "worker-1")];
    expect(alive(a) && alive(b)).toBe(true);
    const out = await until(
      () => readFile(join(stateDir, "processes", "worker-0.out"), "utf8"),
      (t) => t.includes("working"),
    );
    expect(out.startsWith("started\n")).toBe(true);
    expect(await readFile(join(stateDir, "processes", "worker-0.err"), "utf8")).toBe("oops\n");

    process.kill(-a, "SIGKILL");
    const restarted = await until(
      () => pidOf(stateDir, "worker-0"),
      (pid) => pid !== a && alive(pid),
      10_000,
      "restart after kill",
    );

    await supervisor.stop();
    supervisors.length = 0;
    supervisor = await start(stateDir);
    expect((await supervisor.waitReady("worker", 10_000)).ready).toBe(true);
    expect([await pidOf(stateDir, "worker-0"), await pidOf(stateDir, "worker-1")]).toEqual([
      restarted,
      b,
    ]);

    await supervisor.delete("worker");
    await supervisor.controller.idle();
    await until(
      () => [alive(restarted), alive(b)],
      ([x, y]) => !x && !y,
      10_000,
      "processes stopped",
    );
  });

  it("refuses an agent without a command under the process strategy", async () => {
    const supervisor = await start(await tempDir("process-state"));
    const result = parseAgentDefinition({
      apiVersion: "agent.dev/v1",
      kind: "Agent",
      metadata: { name: "imageonly" },
      spec: { image: "x:1" },
    });
    if (!result.ok) throw new Error(result.error);
    await expect(supervisor.apply(result.agent)).rejects.toThrow(
      "agent replica imageonly-0: the process strategy needs spec.command",
    );
  });
});
