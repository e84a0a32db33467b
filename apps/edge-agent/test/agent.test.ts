import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { DockerEngine } from "@org/workloads/docker";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import {
  type ManifestStatus,
  ManifestStatusSchema,
  decodeJson,
  encodeJson,
  generateSigningKey,
  type KvStore,
  signManifest,
} from "@org/reconcile-core";
import type { CliProcess } from "@org/reconcile-core/testing";
import { tempDir, until } from "@org/reconcile-core/testing";
import { connectNats, NatsKvStore } from "@org/transport-nats";
import { shouldRunNatsTests, TestNatsServer } from "@org/transport-nats/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { actualKey, desiredKey, heartbeatKey } from "../src/fleet.js";
import { Cli } from "./cli.js";

const runAgentTests = shouldRunNatsTests() && shouldRunDockerTests();

describe.runIf(runAgentTests)("edge agent against real nats-server and Docker", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let kv: KvStore;
  let dir: string;
  let root: string;
  let agent: CliProcess;
  const id = `pi-${process.pid}`;
  const signer = generateSigningKey();
  const stranger = generateSigningKey();
  const driver = new DockerEngine();

  const configPath = () => join(dir, "agent.yaml");
  const startAgent = () => {
    agent = Cli.start(["run", "--config", configPath()]);
    return agent;
  };
  const status = async (): Promise<ManifestStatus | undefined> => {
    // While NATS restarts a read may time out: that is "not yet", not a failure.
    const entry = await kv.get(actualKey(id)).catch(() => undefined);
    return entry
      ? decodeJson(ManifestStatusSchema, actualKey(id), entry.revision, entry.value)
      : undefined;
  };
  const statusWhere = (ok: (s: ManifestStatus) => boolean, what: string, ms = 30_000) =>
    until(status, (s) => s !== undefined && ok(s), ms, what) as Promise<ManifestStatus>;
  const fleetArgs = () => ["--nats", server.url, "--bucket", "fleet"];
  const apply = async (manifest: Record<string, unknown>, signKey = join(dir, "signer.key")) => {
    await writeFile(join(dir, "manifest.yaml"), stringify(manifest));
    const result = await Cli.run([
      "apply",
      "--agent",
      id,
      "-f",
      join(dir, "manifest.yaml"),
      "--sign-key",
      signKey,
      ...fleetArgs(),
    ]);
    expect(result.code, result.stdout.join("\n") + result.stderr.join("\n")).toBe(0);
    return Number(/generation (\d+)/.exec(result.stdout[0] ?? "")?.[1]);
  };
  const allReady = (generation: number) => (s: ManifestStatus) =>
    s.observedGeneration === generation &&
    s.conditions.some((c) => c.type === "Ready" && c.status === "True");
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    server = await TestNatsServer.start();
    nc = await connectNats({ servers: server.url, reconnectWaitMs: 200 });
    kv = await NatsKvStore.open(nc, "fleet");
    dir = await tempDir("agent");
    root = join(dir, "root");
    await mkdir(root);
    await writeFile(join(dir, "signer.key"), signer.privateKeyPem);
    await writeFile(join(dir, "stranger.key"), stranger.privateKeyPem);
    await writeFile(join(dir, "signer.pub"), signer.publicKeyPem);
    await writeFile(
      configPath(),
      stringify({
        id,
        nats: { servers: server.url, reconnectWaitMs: 500 },
        allowedRoots: [root],
        scripts: { allowed: true },
        trust: { keys: [join(dir, "signer.pub")], requireSignature: true },
        resync: "1s",
        statusInterval: "200ms",
        heartbeatInterval: "1s",
        stateDir: join(dir, "state"),
        machinesDir: join(dir, "machines"),
        systemd: { unitDir: join(dir, "units") },
        logLevel: "warn",
      }),
    );
    startAgent();
  }, 60_000);

  afterAll(async () => {
    await agent?.stop("SIGTERM");
    await removeOwned(driver, `edge-agent-${id}`);
    await nc?.close();
    await server?.stop();
  });

  it("converges files and a container to Ready at the generation, repairs drift within the resync, and removes what a generation drops", async () => {
    const manifest = {
      resources: [
        {
          kind: "File",
          id: "motd",
          spec: { path: join(root, "etc/motd"), content: "Welcome to the fleet\n", mode: "0644" },
        },
        {
          kind: "File",
          id: "app-conf",
          spec: { path: join(root, "etc/app.conf"), content: "port=8080\n" },
        },
        {
          kind: "Container",
          id: "web",
          spec: {
            image: TEST_IMAGE,
            command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
            stopGracePeriod: "1s",
          },
        },
      ],
    };
    const generation = await apply(manifest);
    const ready = await statusWhere(allReady(generation), "generation Ready");
    expect(Object.values(ready.resources).map((r) => r.state)).toEqual(["Ready", "Ready", "Ready"]);
    expect(await readFile(join(root, "etc/motd"), "utf8")).toBe("Welcome to the fleet\n");
    const [container] = await driver.list({ "org.reconcile.owner": `edge-agent-${id}` });
    expect(container?.state).toBe("running");

    // Drift: a managed file deleted and the container stopped by hand.
    await rm(join(root, "etc/motd"));
    execFileSync("docker", ["stop", "-t", "1", container!.id]);
    await until(() => exists(join(root, "etc/motd")), Boolean, 10_000, "file repaired");
    await until(
      async () => (await driver.list({ "org.reconcile.owner": `edge-agent-${id}` }))[0]?.state,
      (s) => s === "running",
      10_000,
      "container repaired",
    );

    // The operator's view.
    const shown = await Cli.run(["status", id, ...fleetArgs()]);
    expect(shown.stdout.join("\n")).toMatch(/File\s+motd\s+Ready/);
    const fleet = await Cli.run(["fleet", "--json", ...fleetArgs()]);
    expect(JSON.parse(fleet.stdout.join("\n"))).toContainEqual(
      expect.objectContaining({ agent: id, desiredGeneration: generation, converged: true }),
    );

    const next = await apply({ resources: manifest.resources.filter((r) => r.id !== "app-conf") });
    await statusWhere((s) => allReady(next)(s) && !("app-conf" in s.resources), "app-conf removed");
    expect(await exists(join(root, "etc/app.conf"))).toBe(false);
  });

  it("gives typed statuses for a path outside the roots, an unknown kind, an invalid manifest and bad signatures, and keeps running", async () => {
    const generation = await apply({
      resources: [
        {
          kind: "File",
          id: "escape",
          spec: { path: "/etc/cron.d/evil", content: "* * * * * root sh\n" },
        },
        { kind: "Gizmo", id: "future", spec: { size: 3 } },
        { kind: "File", id: "fine", spec: { path: join(root, "fine"), content: "ok" } },
      ],
    });
    const s = await statusWhere((x) => x.observedGeneration === generation, "typed statuses");
    expect(s.resources.escape).toMatchObject({
      state: "Failed",
      error: `path /etc/cron.d/evil is outside the allowed roots (${root})`,
    });
    expect(s.resources.future).toMatchObject({ state: "Unknown", reason: "unknown kind 'Gizmo'" });
    expect(s.resources.fine?.state).toBe("Ready");

    // Not JSON at all, straight into the key.
    const current = await kv.get(desiredKey(id));
    await kv.update(desiredKey(id), new TextEncoder().encode("{ not json"), current!.revision);
    await statusWhere(
      (x) =>
        x.conditions.some((c) => c.type === "ManifestRejected" && c.reason === "InvalidManifest"),
      "invalid manifest reported",
    );

    // Signed by a key the agent does not trust, then tampered with after signing.
    await apply(
      {
        resources: [
          { kind: "File", id: "fine", spec: { path: join(root, "fine"), content: "stranger" } },
        ],
      },
      join(dir, "stranger.key"),
    );
    await statusWhere(
      (x) => x.conditions.some((c) => c.type === "ManifestRejected" && c.reason === "UntrustedKey"),
      "untrusted key reported",
    );
    const latest = await kv.get(desiredKey(id));
    const signed = signManifest({ generation: 100, resources: [] }, signer.privateKeyPem);
    await kv.update(desiredKey(id), encodeJson({ ...signed, generation: 101 }), latest!.revision);
    const rejected = await statusWhere(
      (x) => x.conditions.some((c) => c.type === "ManifestRejected" && c.reason === "BadSignature"),
      "bad signature reported",
    );
    expect(rejected.resources.fine?.state).toBe("Ready"); // the last good manifest stays in force
    expect(await readFile(join(root, "fine"), "utf8")).toBe("ok");

    // Still alive: heartbeats keep coming and a good manifest is applied.
    const beat = await kv.get(heartbeatKey(id));
    await until(
      async () => (await kv.get(heartbeatKey(id)))?.revision ?? 0,
      (r) => r > (beat?.revision ?? 0),
      10_000,
      "heartbeat",
    );
    const good = await apply({
      resources: [
        { kind: "File", id: "fine", spec: { path: join(root, "fine"), content: "good again" } },
      ],
    });
    await statusWhere(
      (x) => allReady(good)(x) && !x.conditions.some((c) => c.type === "ManifestRejected"),
      "recovered",
    );
    expect(await readFile(join(root, "fine"), "utf8")).toBe("good again");
  });

  it("does not run a script again after `kill -9` mid-run and a restart", async () => {
    const runs = join(root, "runs.log");
    const generation = await apply({
      resources: [
        {
          kind: "Script",
          id: "migrate",
          spec: { content: `echo start >> ${runs}; sleep 3; echo end >> ${runs}` },
        },
        // A witness: its repairs prove resyncs ran, so "not run again" is not a guess.
        { kind: "File", id: "witness", spec: { path: join(root, "witness"), content: "w" } },
      ],
    });
    await until(
      () => readFile(runs, "utf8").catch(() => ""),
      (t) => t === "start\n",
      20_000,
      "script started",
    );
    await agent.stop("SIGKILL");
    await until(
      () => readFile(runs, "utf8").catch(() => ""),
      (t) => t === "start\nend\n",
      10_000,
      "script finished on its own",
    );
    startAgent();
    const s = await statusWhere(allReady(generation), "script Ready after restart");
    expect(s.resources.migrate).toMatchObject({ state: "Ready", details: { exitCode: 0 } });
    // Two resyncs (1 s apart) later, each of which re-reconciles every resource, script included.
    for (let i = 0; i < 2; i++) {
      await rm(join(root, "witness"));
      await until(
        () => readFile(join(root, "witness"), "utf8").catch(() => ""),
        (t) => t === "w",
        10_000,
        `witness repaired by resync ${i + 1}`,
      );
    }
    expect(await readFile(runs, "utf8")).toBe("start\nend\n");
  }, 90_000);

  it("keeps applying while NATS is down for 30 s, and the final status arrives after it returns", async () => {
    const done = join(root, "slow-done");
    const generation = await apply({
      resources: [
        { kind: "Script", id: "slow", spec: { content: `sleep 4; echo ok > ${done}` } },
        {
          kind: "File",
          id: "offline",
          spec: { path: join(root, "offline.txt"), content: "written while offline" },
        },
      ],
    });
    await statusWhere((s) => s.resources.slow?.state === "Reconciling", "the script running");
    await server.pause();
    await new Promise((r) => setTimeout(r, 30_000));
    expect(await readFile(done, "utf8")).toBe("ok\n"); // converged without the network
    await server.resume();
    const s = await statusWhere(allReady(generation), "final status after the outage", 60_000);
    expect(s.resources.offline?.state).toBe("Ready");
  }, 150_000);
});
