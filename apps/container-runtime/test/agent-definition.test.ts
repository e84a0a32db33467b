import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { staleJsonSchemas } from "@org/reconcile-core/internal";
import { describe, expect, it } from "vitest";
import {
  compileManifest,
  containerSpecOf,
  parseAgentDefinition,
  parseAgentDefinitionText,
  replicaIds,
  resolveEnvironment,
} from "../src/agent-definition.js";
import { agentJsonSchemas, schemasDir } from "../src/schemas.js";

const examples = new URL("../../../examples/agents/", import.meta.url).pathname;
const base = {
  apiVersion: "agent.dev/v1",
  kind: "Agent",
  metadata: { name: "web", version: "1.2.0" },
  spec: {},
};

describe("agent.yaml", () => {
  it("validates every example, listing build-only fields as ignored", async () => {
    const files = (await readdir(examples)).filter((f) => f.endsWith(".agent.yaml"));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const text = await readFile(join(examples, file), "utf8");
      expect(
        text.startsWith("# yaml-language-server: $schema=../../schemas/agent.schema.json"),
      ).toBe(true);
      const result = parseAgentDefinitionText(text);
      expect(result.ok, `${file}: ${result.ok ? "" : result.error}`).toBe(true);
      if (result.ok && file === "assistant.agent.yaml") {
        expect(result.ignored).toEqual([
          "spec.runtime",
          "spec.model",
          "spec.capabilities",
          "spec.dependencies",
        ]);
      }
    }
  });

  it("refuses unknown keys and names the field", () => {
    const result = parseAgentDefinition({ ...base, spec: { replicaz: 2 } });
    expect(result).toMatchObject({ ok: false, error: expect.stringContaining("replicaz") });
    const bad = parseAgentDefinition({
      ...base,
      spec: { healthCheck: { http: { port: 80 }, tcp: { port: 81 } } },
    });
    expect(bad).toMatchObject({
      ok: false,
      error: expect.stringContaining("give exactly one of command, http, tcp or file"),
    });
    const ports = parseAgentDefinition({
      ...base,
      spec: { replicas: 2, ports: [{ container: 80, host: 8080 }] },
    });
    expect(ports).toMatchObject({
      ok: false,
      error: expect.stringContaining("a fixed host port cannot be shared by several replicas"),
    });
  });

  it("defaults the image to name:version and maps the Agent-as-Code fields onto a container", () => {
    const result = parseAgentDefinition({
      ...base,
      spec: {
        scaling: { replicas: 3 },
        ports: [{ container: 8080 }],
        healthCheck: { tcp: { port: 8080 }, interval: "5s" },
        resources: { limits: { cpu: "500m", memory: "128Mi" } },
        security: { user: "1000", readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        command: "echo hi && sleep 1",
      },
    });
    if (!result.ok) throw new Error(result.error);
    expect(replicaIds(result.agent)).toEqual(["web-0", "web-1", "web-2"]);
    expect(containerSpecOf(result.agent, {})).toMatchObject({
      image: "web:1.2.0",
      command: ["sh", "-c", "echo hi && sleep 1"],
      cpus: "500m",
      memory: "128Mi",
      user: "1000",
      readOnly: true,
      capDrop: ["ALL"],
      healthCheck: { type: "tcp", port: 8080, interval: "5s", retries: 3 },
      labels: { "org.reconcile.agent": "web" },
    });
    expect(
      compileManifest(4, [{ agent: result.agent, env: {} }]).resources.map((r) => r.id),
    ).toEqual(["web-0", "web-1", "web-2"]);
  });

  it("resolves environment from values, the environment, secret files and files, naming what is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secrets-"));
    await writeFile(join(dir, "api-key"), "s3cret\n");
    await writeFile(join(dir, "motd.txt"), "hello");
    const result = parseAgentDefinition({
      ...base,
      spec: {
        environment: [
          { name: "A", value: "1" },
          { name: "B", from: "env", key: "HOME_REGION" },
          { name: "C", from: "secret", key: "api-key" },
          { name: "D", from: "file", path: join(dir, "motd.txt") },
        ],
      },
    });
    if (!result.ok) throw new Error(result.error);
    expect(
      resolveEnvironment(result.agent, { env: { HOME_REGION: "eu" }, secretsDir: dir }),
    ).toEqual({ A: "1", B: "eu", C: "s3cret", D: "hello" });
    expect(() => resolveEnvironment(result.agent, { env: {}, secretsDir: dir })).toThrow(
      "environment B: variable HOME_REGION is not set",
    );
    expect(() => resolveEnvironment(result.agent, { env: { HOME_REGION: "eu" } })).toThrow(
      "environment C: no secrets directory is configured",
    );
  });

  it("the checked-in agent.schema.json is current (npm run schemas)", async () => {
    expect(await staleJsonSchemas(schemasDir, agentJsonSchemas)).toEqual([]);
  });
});
