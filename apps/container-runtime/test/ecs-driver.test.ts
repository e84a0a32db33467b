import { randomUUID } from "node:crypto";
import { DockerEngine, LABEL_OWNER } from "@org/workloads/docker";
import { describeWorkloadContract, shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import { silentLogger, TerminalError } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { EcsDriver, type EcsSpecInput, EcsSpecSchema } from "@org/workloads/ecs";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../src/api/server.js";
import { EcsService } from "../src/ecs/ecs-service.js";
import { Supervisor } from "../src/supervisor.js";

const LABEL_RESOURCE = "org.reconcile.resource";
const LABEL_SPEC_HASH = "org.reconcile.spec-hash";

/**
 * The workload package's ECS driver against this runtime's ECS-compatible endpoint on a
 * loopback port: the same SDK calls it makes against AWS, answered by real containers.
 */
describe.runIf(shouldRunDockerTests())("EcsDriver against the ECS-compatible endpoint", () => {
  const docker = new DockerEngine();
  const endpointOwner = `ecs-driver-endpoint-${randomUUID().slice(0, 8)}`;
  const owner = `ecs-driver-${randomUUID().slice(0, 8)}`;
  let app: FastifyInstance;
  let ecs: EcsService;
  let driver: EcsDriver;
  let endpoint = "";

  const spec = (input: Partial<EcsSpecInput> = {}) =>
    EcsSpecSchema.parse({ taskDefinition: "sleeper", ...input });
  const labels = (resource: string, hash = "h1") => ({
    [LABEL_OWNER]: owner,
    [LABEL_RESOURCE]: resource,
    [LABEL_SPEC_HASH]: hash,
  });

  beforeAll(async () => {
    const supervisor = new Supervisor({
      stateDir: await tempDir("ecs-driver-supervisor"),
      strategy: "docker",
      driver: docker,
      log: silentLogger,
      owner: `${endpointOwner}-supervisor`,
    });
    ecs = new EcsService({
      driver: docker,
      log: silentLogger,
      owner: endpointOwner,
      stateDir: await tempDir("ecs-driver-state"),
    });
    await ecs.start();
    app = await buildApi(supervisor, ecs);
    endpoint = await app.listen({ port: 0, host: "127.0.0.1" });
    driver = new EcsDriver({
      endpoint,
      region: "us-east-1",
      cluster: "workloads",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      maxAttempts: 1,
    });
    for (const [family, command, essential] of [
      ["sleeper", ["sleep", "600"], true],
      ["job", ["sh", "-c", "exit 0"], true],
    ] as const)
      await ecs.registerTaskDefinition({
        family,
        containerDefinitions: [
          {
            name: "sidecar",
            image: TEST_IMAGE,
            command: ["sleep", "600"],
            essential: false,
            stopTimeout: 1,
          },
          { name: "main", image: TEST_IMAGE, command: [...command], essential, stopTimeout: 1 },
        ],
      });
    await ecs.registerTaskDefinition({
      family: "contract",
      containerDefinitions: [
        {
          name: "main",
          image: TEST_IMAGE,
          command: ["sleep", "600"],
          essential: true,
          stopTimeout: 1,
        },
      ],
    });
  });
  afterAll(async () => {
    await driver?.close();
    await app?.close();
    await ecs?.stop();
    for (const c of await docker.list({ [LABEL_OWNER]: endpointOwner })) await docker.remove(c.id);
  });

  it("launches a task with the owner as startedBy and the other labels as tags, and lists it by them", async () => {
    const created = await driver.create({
      name: "web-1",
      spec: spec({ environment: { GREETING: "hi" }, launchType: "EC2" }),
      labels: labels("web"),
      idempotencyKey: "web:1",
    });
    expect(created).toMatchObject({ name: "web-1", labels: labels("web") });
    expect(["pending", "running"]).toContain(created.state);
    const running = await until(
      () => driver.inspect(created.id),
      (w) => w?.state === "running",
      10_000,
      "the task to run",
    );
    expect(running).toMatchObject({
      id: created.id,
      name: "web-1",
      labels: labels("web"),
      details: expect.objectContaining({ launchType: "EC2", lastStatus: "RUNNING" }),
    });
    expect(
      (await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: "web" })).map((w) => w.id),
    ).toEqual([created.id]);
    expect(await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: "other" })).toEqual([]);
    const described = ecs.describeTasks({
      cluster: "workloads",
      tasks: [created.id],
      include: ["TAGS"],
    }).tasks[0] as { startedBy: string; overrides: unknown };
    expect(described.startedBy).toBe(owner);
    expect(described.overrides).toEqual({
      containerOverrides: [{ name: "main", environment: [{ name: "GREETING", value: "hi" }] }],
    });
    await driver.stop(created.id, 1_000);
    const exited = await until(
      () => driver.inspect(created.id),
      (w) => w?.state === "exited",
      10_000,
      "the stopped task to exit",
    );
    expect(exited).toMatchObject({
      exitCode: 137,
      details: expect.objectContaining({ stopCode: "UserInitiated" }),
    });
  });

  it("a retried create launches nothing new; a new launch of the same spec does", async () => {
    const request = {
      name: "once-1",
      spec: spec(),
      labels: labels("once"),
      idempotencyKey: "once:attempt-1",
    };
    const first = await driver.create(request);
    const retried = await driver.create(request);
    expect(retried.id).toBe(first.id);
    const next = await driver.create({ ...request, idempotencyKey: "once:attempt-2" });
    expect(next.id).not.toBe(first.id);
    const listed = await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: "once" });
    expect(listed.map((w) => w.id).sort()).toEqual([first.id, next.id].sort());
    for (const w of listed) await driver.remove(w.id);
    expect(await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: "once" })).toEqual([]);
    expect(await driver.inspect(first.id)).toBeUndefined();
    const task = ecs.describeTasks({ cluster: "workloads", tasks: [first.id] }).tasks[0] as {
      desiredStatus: string;
    };
    expect(task.desiredStatus).toBe("STOPPED");
  });

  it("reports a finished task as exited with its essential container's exit code", async () => {
    const created = await driver.create({
      name: "job-1",
      spec: spec({ taskDefinition: "job", command: ["sh", "-c", "sleep 1; exit 4"] }),
      labels: labels("job"),
      idempotencyKey: "job:1",
    });
    const exited = await until(
      () => driver.inspect(created.id),
      (w) => w?.state === "exited",
      20_000,
      "the job to finish",
    );
    // The non-essential sidecar is stopped with the task (137); the workload's code is main's.
    expect(exited).toMatchObject({
      exitCode: 4,
      details: expect.objectContaining({ stopCode: "EssentialContainerExited", container: "main" }),
    });
    const stopped = await until(
      () => driver.inspect(created.id),
      (w) => w?.details.lastStatus === "STOPPED",
      20_000,
      "the task to be deprovisioned",
    );
    expect(stopped).toMatchObject({ state: "exited", exitCode: 4 });
    expect(stopped?.finishedAt).toBeInstanceOf(Date);
  });

  it("fails terminally on what a retry cannot fix, and says what to do", async () => {
    await expect(driver.prepare(spec({ taskDefinition: "no-such-family" }))).rejects.toBeInstanceOf(
      TerminalError,
    );
    await expect(driver.prepare(spec({ container: "nope" }))).rejects.toThrow(
      /has no container 'nope' \(it has sidecar, main\)/,
    );
    await expect(
      driver.logs("arn:aws:ecs:us-east-1:000000000000:task/workloads/x"),
    ).rejects.toThrow(/CloudWatch Logs/);
    expect(() =>
      EcsSpecSchema.parse({ taskDefinition: "sleeper", healthCheck: { type: "tcp", port: 80 } }),
    ).toThrow(/cannot probe a task/);
    await expect(
      driver.create({
        name: "bad",
        spec: spec(),
        labels: { ...labels("bad"), [LABEL_OWNER]: "spaces are not allowed" },
        idempotencyKey: "bad",
      }),
    ).rejects.toThrow(/startedBy/);
    // Stopping what is gone succeeds.
    await driver.stop("arn:aws:ecs:us-east-1:000000000000:task/workloads/0000", 0);
  });

  // The workload kind's contract, on ECS: one essential container whose command each case sets.
  // ECS cannot probe a task from outside, so the health case is skipped by the driver's lack of `probe`.
  describeWorkloadContract("ecs (container-runtime's endpoint)", {
    driver: () =>
      new EcsDriver({
        endpoint,
        region: "us-east-1",
        cluster: "contract",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
        maxAttempts: 1,
      }),
    spec: (script, lifecycle) => ({
      taskDefinition: "contract",
      command: ["sh", "-c", script],
      ...lifecycle,
    }),
  });
});
