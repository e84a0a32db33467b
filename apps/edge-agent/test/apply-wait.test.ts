import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateSigningKey } from "@org/reconcile-core";
import type { CliProcess } from "@org/reconcile-core/testing";
import { tempDir } from "@org/reconcile-core/testing";
import { shouldRunNatsTests, TestNatsServer } from "@org/transport-nats/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Cli } from "./cli.js";

describe.runIf(shouldRunNatsTests())("edge-agent apply --wait: the agent's verdict", () => {
  let server: TestNatsServer;
  let agent: CliProcess;
  let dir: string;
  let root: string;
  const id = `wait-${process.pid}`;
  const signer = generateSigningKey();

  beforeAll(async () => {
    server = await TestNatsServer.start();
    dir = await tempDir("apply-wait");
    root = join(dir, "root");
    await mkdir(root);
    await writeFile(join(dir, "fleet.key"), signer.privateKeyPem);
    await writeFile(join(dir, "fleet.pub"), signer.publicKeyPem);
    await writeFile(
      join(dir, "agent.yaml"),
      stringify({
        id,
        nats: { servers: server.url, reconnectWaitMs: 500 },
        allowedRoots: [root],
        trust: { keys: ["fleet.pub"], requireSignature: true },
        statusInterval: "100ms",
        stateDir: "state",
        machinesDir: "machines",
        docker: { enabled: false },
        logLevel: "warn",
      }),
    );
    agent = Cli.start(["run", "--config", join(dir, "agent.yaml")]);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop("SIGTERM");
    await server?.stop();
  });

  const manifest = async (name: string, path: string) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      stringify({
        resources: [{ kind: "File", id: "motd", spec: { path, content: `${name}\n` } }],
      }),
    );
    return file;
  };
  const apply = (file: string, ...extra: string[]) =>
    Cli.run([
      "apply",
      "--agent",
      id,
      "-f",
      file,
      "--wait",
      "--timeout",
      "30s",
      "--nats",
      server.url,
      ...extra,
    ]);

  it("exits 1 with the agent's reason when the agent rejects the manifest (unsigned)", async () => {
    const { code, stdout, stderr } = await apply(await manifest("unsigned", join(root, "motd")));
    expect(stdout[0]).toMatch(/^applied generation 1 to /);
    expect(code, stderr.join("\n")).toBe(1);
    expect(stderr.join("\n")).toMatch(
      new RegExp(
        `^edge-agent: ${id} rejected generation 1 \\(SignatureRequired\\): desired-state\\.${id}@\\d+: `,
      ),
    );

    // And the status header does not claim Ready next to the rejection.
    const status = await Cli.run(["status", id, "--nats", server.url]);
    expect(status.stdout[0]).toMatch(/ManifestRejected=True/);
    expect(status.stdout[0]).not.toMatch(/Ready=True/);
  }, 60_000);

  it("exits 0 once the agent has applied every resource of the generation", async () => {
    const { code, stdout, stderr } = await apply(
      await manifest("signed", join(root, "motd")),
      "--sign-key",
      join(dir, "fleet.key"),
    );
    expect(code, stderr.join("\n")).toBe(0);
    expect(stdout).toEqual([
      expect.stringMatching(/^applied generation 2 to .* signed by /),
      `${id} converged on generation 2: 1 resources ready`,
    ]);
  }, 60_000);

  it("exits 1 naming the resource when a resource of the generation failed", async () => {
    const { code, stderr } = await apply(
      await manifest("outside", "/etc/not-allowed/motd"),
      "--sign-key",
      join(dir, "fleet.key"),
    );
    expect(code).toBe(1);
    expect(stderr.join("\n")).toMatch(
      new RegExp(
        `^edge-agent: ${id} applied generation 3, but 1 resource\\(s\\) failed: File motd: `,
      ),
    );
  }, 60_000);
});
