import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type AgentStatus,
  AgentStatusSchema,
  createLogger,
  type Manifest,
} from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { EdgeAgent } from "../src/agent.js";
import { AgentConfigSchema } from "../src/config.js";

const agents: EdgeAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

async function agentIn(dir: string, extra: Record<string, unknown> = {}) {
  const root = join(dir, "root");
  await mkdir(root, { recursive: true });
  const config = AgentConfigSchema.parse({
    id: "pi-test",
    allowedRoots: [root],
    stateDir: join(dir, "state"),
    machinesDir: join(dir, "machines"),
    systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
    docker: { enabled: false },
    resync: "1s",
    statusInterval: "50ms",
    logLevel: "silent",
    ...extra,
  });
  const agent = new EdgeAgent(config, createLogger("test", { level: "silent" }));
  agents.push(agent);
  return { agent, root };
}

const file = (root: string, id: string, content: string) => ({
  kind: "File",
  id,
  spec: { path: join(root, id), content },
});

describe("edge agent without the network", () => {
  it("starts from its cached manifest when NATS is unreachable, and keeps reconciling from it", async () => {
    const dir = await tempDir("offline");
    const root = join(dir, "root");
    const cached: Manifest = { generation: 7, resources: [file(root, "motd", "from the cache\n")] };
    await mkdir(join(dir, "state"), { recursive: true });
    await writeFile(join(dir, "state", "manifest.json"), JSON.stringify(cached));
    // A NATS URL where nothing listens: the agent must not wait for it.
    const { agent } = await agentIn(dir, {
      nats: { servers: "nats://127.0.0.1:1", reconnectWaitMs: 1000 },
    });
    await agent.start();
    await until(
      () => agent.status(),
      (s) => s.observedGeneration === 7 && s.resources.motd?.state === "Ready",
      10_000,
    );
    expect(await readFile(join(root, "motd"), "utf8")).toBe("from the cache\n");
    await writeFile(join(root, "motd"), "tampered");
    await until(
      () => readFile(join(root, "motd"), "utf8"),
      (t) => t === "from the cache\n",
      5_000,
      "drift repaired offline",
    );
  });

  it("takes its manifest from a local file source, and reports a broken file while keeping the last good one", async () => {
    const dir = await tempDir("file-source");
    const manifestPath = join(dir, "manifest.yaml");
    const { agent, root } = await agentIn(dir, { source: { type: "file", path: manifestPath } });
    await writeFile(
      manifestPath,
      JSON.stringify({ generation: 1, resources: [file(join(dir, "root"), "a", "one")] }),
    );
    await agent.start();
    await until(
      () => agent.status(),
      (s) => s.resources.a?.state === "Ready",
      10_000,
    );
    await writeFile(`${manifestPath}.tmp`, "generation: 2\nresources: [");
    const { rename } = await import("node:fs/promises");
    await rename(`${manifestPath}.tmp`, manifestPath);
    await until(
      () => agent.status(),
      (s) => s.conditions.some((c) => c.type === "ManifestRejected"),
      10_000,
    );
    expect(await readFile(join(root, "a"), "utf8")).toBe("one");
    // Lower generations are ignored and reported.
    await agent.receive({ generation: 0, resources: [] }, "test");
    expect(agent.status().conditions.find((c) => c.type === "ManifestRejected")).toMatchObject({
      reason: "StaleGeneration",
    });
    expect(agent.status().resources.a?.state).toBe("Ready");
  });

  it("never crashes on random manifests, and its status always stays valid (property)", async () => {
    const dir = await tempDir("fuzz");
    const { agent, root } = await agentIn(dir);
    await agent.start();
    const kind = fc.constantFrom(
      "File",
      "Script",
      "Machine",
      "SystemdUnit",
      "Container",
      "Gadget",
      "",
    );
    const spec = fc.oneof(
      fc.record(
        {
          path: fc.constantFrom(join(root, "x"), "/etc/passwd", `${root}/../y`, "relative"),
          content: fc.string({ maxLength: 50 }),
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    );
    const resource = fc.record(
      { kind, id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,10}$/), spec },
      { requiredKeys: ["kind", "id", "spec"] },
    );
    const manifest = fc.oneof(
      fc.record({
        generation: fc.integer({ min: -2, max: 1_000 }),
        resources: fc.array(resource, { maxLength: 6 }),
      }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(manifest, async (m) => {
        await agent.receive(m, "fuzz");
        const status: AgentStatus = agent.status();
        expect(AgentStatusSchema.safeParse(status).success).toBe(true);
      }),
      { numRuns: 150 },
    );
    await agent.controller.idle();
    // Still working: a plain manifest newer than anything fuzzed is applied.
    await agent.receive({ generation: 5_000, resources: [file(root, "after", "alive")] }, "test");
    await until(
      () => agent.status(),
      (s) => s.resources.after?.state === "Ready",
      10_000,
    );
    expect(await readFile(join(root, "after"), "utf8")).toBe("alive");
  });

  it("serves Prometheus metrics on the metrics port", async () => {
    const dir = await tempDir("metrics");
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const { agent, root } = await agentIn(dir, { metricsPort: port });
    await agent.start();
    await agent.receive({ generation: 3, resources: [file(root, "m", "x")] }, "test");
    await until(
      () => agent.status(),
      (s) => s.resources.m?.state === "Ready",
      10_000,
    );
    const text = await until(
      () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()),
      (t) => t.includes('edge_agent_resources{state="Ready"} 1'),
      10_000,
    );
    expect(text).toContain("edge_agent_manifest_generation 3");
    expect(text).toContain("edge_agent_manifests_applied_total 1");
  });
});
