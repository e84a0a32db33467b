import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, silentLogger } from "@org/reconcile-core";
import { CliProcess, tempDir, until } from "@org/reconcile-core/testing";
import { LABEL_OWNER, processAlive } from "@org/workloads";
import { DockerEngine } from "@org/workloads/docker";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import { afterEach, describe, expect, it } from "vitest";
import { buildApi } from "../src/api/server.js";
import { parseAgentDefinition } from "../src/agent-definition.js";
import { resolveOwner } from "../src/owner.js";
import { Supervisor } from "../src/supervisor.js";

const appDir = fileURLToPath(new URL("..", import.meta.url));
const engine = new DockerEngine();

function agent(name: string, spec: Record<string, unknown>) {
  const result = parseAgentDefinition({
    apiVersion: "agent.dev/v1",
    kind: "Agent",
    metadata: { name, version: "1.0.0" },
    spec: { stopGracePeriod: "1s", ...spec },
  });
  if (!result.ok) throw new Error(result.error);
  return result.agent;
}

const supervisors: Supervisor[] = [];
const owners: string[] = [];
afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.stop();
  for (const o of owners.splice(0)) await removeOwned(engine, o);
});

async function supervisor(
  stateDir: string,
  strategy: "docker" | "process",
  log = silentLogger,
): Promise<Supervisor> {
  const owner = await resolveOwner(stateDir);
  owners.push(owner);
  const s = new Supervisor({ stateDir, strategy, owner, driver: engine, log, resyncIntervalMs: 0 });
  supervisors.push(s);
  await s.start();
  return s;
}

async function agentFile(text: string): Promise<string> {
  const file = join(await tempDir("fault-agent"), "agent.yaml");
  await writeFile(file, text);
  return file;
}

describe.runIf(shouldRunDockerTests())("two supervisors on one Docker engine", () => {
  it("each has its own owner and never collects the other's replicas; a second one warns at start", async () => {
    const [dirA, dirB] = [await tempDir("owner-a"), await tempDir("owner-b")];
    const a = await supervisor(dirA, "docker");
    const suffix = randomUUID().slice(0, 6);
    await a.apply(agent(`alpha-${suffix}`, { image: TEST_IMAGE, command: ["sleep", "300"] }));
    expect((await a.waitReady(`alpha-${suffix}`, 30_000)).ready).toBe(true);
    const [alpha] = await engine.list({ [LABEL_OWNER]: a.owner });

    const lines: string[] = [];
    const log = createLogger("test", { level: "warn" }, { write: (l: string) => lines.push(l) });
    const b = await supervisor(dirB, "docker", log);
    expect(b.owner).not.toBe(a.owner);
    expect(lines.join("\n")).toContain(`another supervisor (owner '${a.owner}')`);
    await b.apply(agent(`beta-${suffix}`, { image: TEST_IMAGE, command: ["sleep", "300"] }));
    expect((await b.waitReady(`beta-${suffix}`, 30_000)).ready).toBe(true);
    // A resync collects the orphans of its owner: alpha's replica is not one of b's.
    await b.controller.resync();
    await b.controller.idle();
    expect((await engine.inspect(alpha!.id))?.state).toBe("running");

    // Same state directory, same owner: a supervisor started on it again adopts the replica.
    expect(await resolveOwner(dirA)).toBe(a.owner);
  });
});

describe.runIf(shouldRunDockerTests())("`apply` of a spec that cannot work", () => {
  it("prints the reason and exits at once on a terminal error (a missing image)", async () => {
    const stateDir = await tempDir("apply-terminal");
    owners.push(await resolveOwner(stateDir));
    const file = await agentFile(
      `apiVersion: agent.dev/v1\nkind: Agent\nmetadata: {name: ghost}\nspec:\n  image: no-such-image-${randomUUID().slice(0, 6)}:1\n`,
    );
    const started = Date.now();
    const run = await CliProcess.run(
      appDir,
      ["apply", "-f", file, "--state-dir", stateDir, "--api", "http://127.0.0.1:1"],
      { CONTAINER_RUNTIME_STRATEGY: "docker" },
    );
    expect(run.code).toBe(1);
    expect(run.stdout.join("\n")).toMatch(/ghost-0: image 'no-such-image-.*' not found locally/);
    expect(run.stderr.join("\n")).toMatch(/ghost cannot become healthy: ghost-0: image/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("`validate` refuses what the runtime would refuse", () => {
  it.each([
    ["memory: 5 GB", "  resources: {limits: {memory: 5 GB}}", /invalid memory limit '5 GB'/],
    [
      "a relative bind source",
      "  volumes: [{type: bind, source: ./data, target: /data}]",
      /bind mount source '\.\/data' \(for \/data\) is a relative path/,
    ],
  ])("%s", async (_name, line, message) => {
    const file = await agentFile(
      `apiVersion: agent.dev/v1\nkind: Agent\nmetadata: {name: web}\nspec:\n  image: x:1\n${line}\n`,
    );
    const run = await CliProcess.run(appDir, ["validate", "-f", file]);
    expect(run.code).not.toBe(0);
    expect(run.stderr.join("\n")).toMatch(message);
  });

  it("shows the whole YAML error, with the line it is about", async () => {
    const file = await agentFile("apiVersion: agent.dev/v1\nkind: Agent\nmetadata: {name: web\n");
    const run = await CliProcess.run(appDir, ["validate", "-f", file]);
    expect(run.code).not.toBe(0);
    // One line: what is wrong, where, and the line quoted (the same wording as the edge agent).
    expect(run.stderr.join("\n")).toMatch(
      /agent spec is not valid YAML: .* at line \d+, column \d+.*"metadata: \{name: web"/,
    );
  });
});

describe("process replicas", () => {
  it("`ps` lists them, and the API and `ps` show a failing health check next to Ready", async () => {
    const stateDir = await tempDir("process-ps");
    const s = await supervisor(stateDir, "process");
    await s.apply(
      agent("probed", {
        command: ["sleep", "300"],
        healthCheck: { tcp: { port: 1 }, interval: "200ms", timeout: "200ms", retries: 50 },
      }),
    );
    const app = await buildApi(s);
    const view = await until(
      async () =>
        (await app.inject({ method: "GET", url: "/v1/agents/probed" })).json() as {
          replicaStatus: Array<{ state?: string; health?: string }>;
        },
      (v) => /^failing \d+\/50: /.test(v.replicaStatus[0]?.health ?? ""),
      10_000,
      "health failing in the API",
    );
    expect(view.replicaStatus[0]?.state).toBe("Ready");
    await app.close();

    const ps = await CliProcess.run(appDir, ["ps", "--json", "--state-dir", stateDir], {
      CONTAINER_RUNTIME_STRATEGY: "process",
    });
    expect(ps.code, ps.stderr.join("\n")).toBe(0);
    const rows = JSON.parse(ps.stdout.join("\n")) as Array<Record<string, unknown>>;
    expect(rows).toMatchObject([
      { kind: "process", name: "probed-0", state: "running", agent: "probed", replica: "probed-0" },
    ]);
    const pid = Number(String(rows[0]?.id).replace("pid ", ""));
    expect(processAlive(pid)).toBe(true);
  });
});
