import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DockerEngine, LABEL_OWNER } from "@org/workloads/docker";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import { CliProcess, tempDir, until } from "@org/reconcile-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const appDir = fileURLToPath(new URL("..", import.meta.url));
const driver = new DockerEngine();

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const agent = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "agent.dev/v1",
  kind: "Agent",
  metadata: { name, version: "1.0.0" },
  spec: { image: TEST_IMAGE, stopGracePeriod: "1s", ...spec },
});

/** A `container-runtime serve` process on a free port with its own state directory. */
class Serve {
  cli!: CliProcess;
  url = "";
  /** The supervisor's owner label, derived from its state directory. */
  owner = "";
  constructor(
    readonly stateDir: string,
    readonly port: number,
  ) {}

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${this.port}`;
    this.cli = new CliProcess(appDir, [
      "serve",
      "--port",
      String(this.port),
      "--state-dir",
      this.stateDir,
      "--strategy",
      "docker",
    ]);
    await until(
      () =>
        fetch(`${this.url}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      Boolean,
      30_000,
      "supervisor API",
    );
    this.owner = ((await (await fetch(`${this.url}/healthz`)).json()) as { owner: string }).owner;
    return this;
  }

  async apply(body: unknown) {
    const r = await fetch(`${this.url}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  async agent(name: string) {
    return (await (await fetch(`${this.url}/v1/agents/${name}`)).json()) as {
      ready: number;
      replicas: number;
      replicaStatus: Array<{ id: string; state?: string; error?: string }>;
    };
  }

  async readyAll(name: string, replicas: number, ms = 60_000) {
    return until(
      () => this.agent(name),
      (a) => a.ready === replicas,
      ms,
      `${name}: ${replicas} replicas ready`,
    );
  }
}

const containersOf = async (agentName: string) =>
  (await driver.list({ [LABEL_OWNER]: serve.owner, "org.reconcile.agent": agentName })).filter(
    (c) => c.state === "running",
  );

let serve: Serve;

describe.runIf(shouldRunDockerTests())("container-runtime (real Docker engine)", () => {
  const agents: string[] = [];
  const cliOwner = "container-runtime-cli";

  beforeAll(async () => {
    serve = await new Serve(await tempDir("runtime-state"), await freePort()).start();
  });
  afterAll(async () => {
    for (const name of agents)
      await fetch(`${serve.url}/v1/agents/${name}`, { method: "DELETE" }).catch(() => undefined);
    await until(
      async () =>
        (await driver.list({ [LABEL_OWNER]: serve.owner })).filter((c) =>
          agents.includes(c.labels["org.reconcile.agent"] ?? ""),
        ).length,
      (n) => n === 0,
      30_000,
    ).catch(() => undefined);
    await serve.cli.stop("SIGTERM");
    await removeOwned(driver, cliOwner);
  });

  it("`run -d` publishes ports and passes environment; `logs` separates stdout and stderr; `ps` lists it; `rm` removes it", async () => {
    const port = await freePort();
    const name = `cli-${randomUUID().slice(0, 6)}`;
    const run = await CliProcess.run(appDir, [
      "run",
      "-d",
      "--name",
      name,
      "-p",
      `127.0.0.1:${port}:8080`,
      "-e",
      "GREETING=fleet",
      "--memory",
      "64Mi",
      "--cpus",
      "500m",
      TEST_IMAGE,
      "sh",
      "-c",
      'echo "hello $GREETING" > /www/g.txt; echo to-stdout; echo to-stderr >&2; exec httpd -f -p 8080 -h /www',
    ]);
    expect(run.code, run.stderr.join("\n")).toBe(0);
    expect(run.stdout[0]).toMatch(/^[0-9a-f]{64}$/);
    const body = await until(
      () =>
        fetch(`http://127.0.0.1:${port}/g.txt`).then(
          (r) => r.text(),
          () => "",
        ),
      (t) => t !== "",
      10_000,
    );
    expect(body).toBe("hello fleet\n");

    const logs = await CliProcess.run(appDir, ["logs", name]);
    expect(logs.stdout).toContain("to-stdout");
    expect(logs.stdout).not.toContain("to-stderr");
    expect(logs.stderr).toContain("to-stderr");

    const ps = await CliProcess.run(appDir, ["ps", "--json"]);
    const listed = (
      JSON.parse(ps.stdout.join("\n")) as Array<{ name: string; state: string }>
    ).find((c) => c.name === name);
    expect(listed?.state).toBe("running");
    const inspect = await driver.docker.getContainer(name).inspect();
    expect(inspect.HostConfig).toMatchObject({ Memory: 64 * 2 ** 20, NanoCpus: 500_000_000 });

    const stats = await CliProcess.run(appDir, ["stats", "--json"]);
    const mine = (
      JSON.parse(stats.stdout.join("\n")) as Array<{
        name: string;
        memoryBytes: number;
        memoryLimitBytes: number;
      }>
    ).find((s) => s.name === name);
    expect(mine?.memoryLimitBytes).toBe(64 * 2 ** 20);
    expect(mine?.memoryBytes).toBeGreaterThan(0);

    expect((await CliProcess.run(appDir, ["rm", "-t", "1s", name])).code).toBe(0);
    expect(await driver.inspect(name)).toBeUndefined();
  });

  it("`run` in the foreground streams the container's output and Ctrl-C stops and removes it", async () => {
    const name = `fg-${randomUUID().slice(0, 6)}`;
    const cli = new CliProcess(appDir, [
      "run",
      "--name",
      name,
      "--stop-grace",
      "1s",
      TEST_IMAGE,
      "sh",
      "-c",
      "echo ready; echo problem >&2; exec sleep 600",
    ]);
    await cli.line(/^ready$/);
    await cli.line(/^problem$/, 10_000, "stderr");
    expect(await cli.stop("SIGINT")).toBe(0);
    expect(await driver.inspect(name)).toBeUndefined();
  });

  it("applies 5 replicas with limits and replaces one removed by hand within seconds", async () => {
    agents.push("five");
    const applied = await serve.apply(
      agent("five", {
        command: ["sleep", "600"],
        replicas: 5,
        resources: { limits: { cpu: "250m", memory: "32Mi" } },
      }),
    );
    expect(applied).toMatchObject({
      status: 202,
      body: { name: "five", replicas: ["five-0", "five-1", "five-2", "five-3", "five-4"] },
    });
    await serve.readyAll("five", 5);
    const before = await containersOf("five");
    expect(before).toHaveLength(5);
    const info = await driver.docker.getContainer(before[0]!.id).inspect();
    expect(info.HostConfig).toMatchObject({ Memory: 32 * 2 ** 20, NanoCpus: 250_000_000 });

    const victim = before.find((c) => c.name === "five-2")!;
    const removedAt = Date.now();
    await driver.remove(victim.id);
    const replacement = await until(
      async () => (await containersOf("five")).find((c) => c.name === "five-2"),
      (c) => c !== undefined && c.id !== victim.id,
      10_000,
    );
    const elapsed = Date.now() - removedAt;
    expect(replacement?.state).toBe("running");
    // Docker's destroy event drives the replacement, not the 5 s rescan.
    expect(elapsed).toBeLessThan(4_000);
  });

  it("replaces a replica whose HTTP health check starts failing", async () => {
    agents.push("healthy");
    await serve.apply(
      agent("healthy", {
        command: ["sh", "-c", "echo ok > /www/health; exec httpd -f -p 8080 -h /www"],
        healthCheck: {
          http: { port: 8080, path: "/health" },
          interval: "500ms",
          timeout: "1s",
          retries: 2,
        },
      }),
    );
    await serve.readyAll("healthy", 1);
    const [sick] = await containersOf("healthy");
    await driver.exec(sick!.id, ["rm", "/www/health"], 5_000);
    await until(
      async () => (await containersOf("healthy"))[0],
      (c) => c !== undefined && c.id !== sick!.id,
      20_000,
      "unhealthy replica replaced",
    );
  });

  it("a killed and restarted supervisor adopts its containers (same ids)", async () => {
    agents.push("adopt");
    await serve.apply(agent("adopt", { command: ["sleep", "600"], replicas: 2 }));
    await serve.readyAll("adopt", 2);
    const before = (await containersOf("adopt")).map((c) => c.id).sort();
    await serve.cli.stop("SIGKILL");
    // Really gone: nothing answers on its port until the new supervisor starts.
    expect(
      await fetch(`${serve.url}/healthz`).then(
        () => "answered",
        () => "refused",
      ),
    ).toBe("refused");
    serve = await new Serve(serve.stateDir, serve.port).start();
    await serve.readyAll("adopt", 2);
    expect((await containersOf("adopt")).map((c) => c.id).sort()).toEqual(before);
  });

  it("reports a port conflict clearly in the replica's status", async () => {
    agents.push("clash");
    const blocker = createServer().listen(0, "0.0.0.0");
    await new Promise((r) => blocker.once("listening", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await serve.apply(
        agent("clash", { command: ["sleep", "600"], ports: [{ container: 80, host: port }] }),
      );
      const status = await until(
        () => serve.agent("clash"),
        (a) => a.replicaStatus[0]?.state === "Failed",
        20_000,
      );
      expect(status.replicaStatus[0]?.error).toBe(
        `port ${port}/tcp is already in use on 0.0.0.0 by a process on this host`,
      );
    } finally {
      blocker.close();
    }
  });

  it("answers malformed specs and bodies with 400 and the field named; unknown agents with 404", async () => {
    const bad = await serve.apply({
      ...agent("bad", {}),
      spec: { image: TEST_IMAGE, replicas: -1, colour: "red" },
    });
    expect(bad.status).toBe(400);
    expect(String(bad.body.error)).toMatch(/^invalid request: /);
    expect(String(bad.body.error)).toMatch(/replicas/);
    const notJson = await fetch(`${serve.url}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    expect((await fetch(`${serve.url}/v1/agents/ghost`)).status).toBe(404);
    const openapi = (await (await fetch(`${serve.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(["/v1/agents", "/v1/agents/{name}", "/v1/agents/{name}/logs"]),
    );
  });

  it("`apply` through the running supervisor waits until healthy; `delete` removes the replicas", async () => {
    const dir = await tempDir("apply");
    const file = join(dir, "agent.yaml");
    await import("node:fs/promises").then((fs) =>
      fs.writeFile(
        file,
        `apiVersion: agent.dev/v1\nkind: Agent\nmetadata: {name: applied, version: 1.0.0}\nspec:\n  image: ${TEST_IMAGE}\n  command: [sleep, "600"]\n  replicas: 2\n  stopGracePeriod: 1s\n`,
      ),
    );
    const applied = await CliProcess.run(appDir, [
      "apply",
      "-f",
      file,
      "--api",
      serve.url,
      "--timeout",
      "60s",
    ]);
    expect(applied.code, applied.stderr.join("\n")).toBe(0);
    expect(applied.stdout.at(-1)).toBe("applied is healthy");
    expect(await containersOf("applied")).toHaveLength(2);
    const deleted = await CliProcess.run(appDir, ["delete", "-f", file, "--api", serve.url]);
    expect(deleted.code).toBe(0);
    await until(
      () => containersOf("applied"),
      (c) => c.length === 0,
      20_000,
    );
  });
});
