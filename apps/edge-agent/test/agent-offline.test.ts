import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type ManifestStatus,
  ManifestStatusSchema,
  defineWatcherType,
  type Manifest,
} from "@org/reconcile-core";
import { tempDir, until, writeMachineDir } from "@org/reconcile-core/testing";
import { z } from "zod";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AgentConfigSchema } from "../src/config.js";
import { useLocalAgents } from "./local-agent.js";

const agentIn = useLocalAgents();

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
        const status: ManifestStatus = agent.status();
        expect(ManifestStatusSchema.safeParse(status).success).toBe(true);
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

/** A watcher type the core does not ship: succeeds as soon as its state is entered. */
const arrivedWatcher = defineWatcherType({
  type: "arrived",
  properties: z.object({}).strict(),
  create(ctx) {
    return {
      activeChanged(active) {
        if (active) ctx.report({ outcome: "success", details: {} });
      },
      stop() {},
    };
  },
});

const arrivingMachine = (name: string) => `name: ${name}
version: 1.0.0
initial_state: travelling
transitions:
  - {name: arrive, from: [travelling], destination: arrived}
watchers:
  - {name: gps, type: arrived, state_match: [travelling], success_transition: arrive}
`;

describe("edge agent parts", () => {
  it("has one watcher registry: a custom watcher type registered on it is accepted by the machine manager and by the Machine kind", async () => {
    const dir = await tempDir("watchers");
    const { agent } = await agentIn(dir);
    agent.watchers.register(arrivedWatcher);
    await writeMachineDir(join(dir, "machines", "local"), arrivingMachine("Local"));
    await agent.start();
    await until(
      () => agent.manager.state("Local"),
      (s) => s === "arrived",
      10_000,
      "the machine from the machines directory running the custom watcher",
    );

    await agent.receive(
      {
        generation: 1,
        resources: [
          { kind: "Machine", id: "shipped", spec: { machine: arrivingMachine("Shipped") } },
        ],
      },
      "test",
    );
    const status = await until(
      () => agent.status(),
      (s) =>
        s.resources.shipped?.state !== undefined &&
        s.resources.shipped.state !== "Pending" &&
        s.resources.shipped.state !== "Reconciling",
      10_000,
      "the Machine resource reconciled",
    );
    expect(status.resources.shipped).toMatchObject({
      state: "Ready",
      details: { machine: "Shipped" },
    });
    await until(
      () => agent.manager.state("Shipped"),
      (s) => s === "arrived",
      15_000,
      "the shipped machine running the custom watcher",
    );
  });

  it("refuses a nats source without a NATS connection, naming the fix", () => {
    const result = AgentConfigSchema.safeParse({ source: { type: "nats" } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ["source"],
      message: expect.stringContaining("set nats.servers"),
    });
  });

  it("loads the NATS client, Docker, prom-client and the workloads package only when configured", async () => {
    const dir = await tempDir("lazy");
    // A resolve hook that fails every import of the heavy clients, so loading one is an error.
    const hook = `export async function resolve(specifier, context, next) {
      if (/^(@nats-io\\/|dockerode$|@org\\/(transport-nats|workloads)$|prom-client$|@aws-sdk\\/)/.test(specifier))
        throw new Error("loaded " + specifier);
      return next(specifier, context);
    }`;
    const src = new URL("../src/", import.meta.url).pathname;
    const script = (extra: Record<string, unknown>) => `
      import { register } from "node:module";
      register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
      const { EdgeAgent } = await import(${JSON.stringify(`${src}agent.ts`)});
      const { AgentConfigSchema } = await import(${JSON.stringify(`${src}config.ts`)});
      const { silentLogger } = await import("@org/reconcile-core");
      const config = AgentConfigSchema.parse(${JSON.stringify({
        id: "lazy",
        stateDir: join(dir, "state"),
        machinesDir: join(dir, "machines"),
        allowedRoots: [dir],
        ...extra,
      })});
      const agent = await EdgeAgent.create(config, silentLogger);
      await agent.start();
      await agent.receive({ generation: 1, resources: [{ kind: "File", id: "f", spec: { path: ${JSON.stringify(join(dir, "f"))}, content: "ok" } }] }, "test");
      await agent.controller.idle();
      console.log(JSON.stringify(agent.status().resources.f));
      await agent.stop();
    `;
    const node = (extra: Record<string, unknown>) =>
      promisify(execFile)(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", script(extra)],
        { cwd: new URL("..", import.meta.url).pathname, timeout: 30_000 },
      );
    const { stdout } = await node({ docker: { enabled: false } });
    expect(JSON.parse(stdout)).toMatchObject({ state: "Ready" });
    // The same agent with NATS or Docker configured does load them: the hook above can fail.
    await expect(
      node({ docker: { enabled: false }, nats: { servers: "nats://127.0.0.1:1" } }),
    ).rejects.toThrow(/loaded @org\/transport-nats/);
    await expect(node({ docker: { enabled: true } })).rejects.toThrow(
      /loaded (dockerode|@org\/workloads)/,
    );
    await expect(node({ docker: { enabled: false }, metricsPort: 1 })).rejects.toThrow(
      /loaded prom-client/,
    );
  }, 60_000);
});
