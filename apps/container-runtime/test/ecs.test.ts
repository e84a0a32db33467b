import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { DockerDriver } from "@org/docker";
import { shouldRunDockerTests, TEST_IMAGE } from "@org/docker/testing";
import { silentLogger } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../src/api/server.js";
import { EcsService } from "../src/ecs/ecs-service.js";
import { Supervisor } from "../src/supervisor.js";

describe.runIf(shouldRunDockerTests())(
  "ECS-compatible endpoint through @aws-sdk/client-ecs (real Docker engine)",
  () => {
    let app: FastifyInstance;
    let ecs: EcsService;
    let client: ECSClient;
    const driver = new DockerDriver();

    beforeAll(async () => {
      const supervisor = new Supervisor({
        stateDir: await tempDir("ecs-state"),
        strategy: "docker",
        driver,
        log: silentLogger,
        owner: "ecs-test-supervisor",
      });
      ecs = new EcsService({ driver, log: silentLogger, owner: "ecs-test", region: "us-east-1" });
      await ecs.start();
      app = await buildApi(supervisor, ecs);
      const address = await app.listen({ port: 0, host: "127.0.0.1" });
      client = new ECSClient({
        endpoint: address,
        region: "us-east-1",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
        maxAttempts: 1,
      });
    });
    afterAll(async () => {
      ecs?.stop();
      await app?.close();
    });

    it("registers and describes a task definition", async () => {
      const registered = await client.send(
        new RegisterTaskDefinitionCommand({
          family: "worker",
          containerDefinitions: [
            {
              name: "main",
              image: TEST_IMAGE,
              command: ["sleep", "600"],
              essential: true,
              memory: 64,
              stopTimeout: 1,
            },
          ],
        }),
      );
      expect(registered.taskDefinition).toMatchObject({
        family: "worker",
        revision: 1,
        status: "ACTIVE",
        taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/worker:1",
      });
      const described = await client.send(
        new DescribeTaskDefinitionCommand({ taskDefinition: "worker" }),
      );
      expect(described.taskDefinition?.containerDefinitions?.[0]).toMatchObject({
        name: "main",
        image: TEST_IMAGE,
      });
      await expect(
        client.send(new DescribeTaskDefinitionCommand({ taskDefinition: "nope" })),
      ).rejects.toMatchObject({ name: "ClientException" });
    });

    it("runs a task with overrides, reports RUNNING, then STOPPED with the container's exit code", async () => {
      await client.send(
        new RegisterTaskDefinitionCommand({
          family: "job",
          containerDefinitions: [{ name: "main", image: TEST_IMAGE, command: ["sleep", "600"] }],
        }),
      );
      const run = await client.send(
        new RunTaskCommand({
          cluster: "incidents",
          taskDefinition: "job",
          startedBy: "conductor-test",
          tags: [{ key: "incident", value: "INC-1" }],
          overrides: {
            containerOverrides: [
              {
                name: "main",
                command: ["sh", "-c", 'sleep 1; echo "$TICKET"; exit 7'],
                environment: [{ name: "TICKET", value: "T-42" }],
              },
            ],
          },
        }),
      );
      const task = run.tasks?.[0];
      expect(task).toMatchObject({
        lastStatus: "PROVISIONING",
        desiredStatus: "RUNNING",
        startedBy: "conductor-test",
        tags: [{ key: "incident", value: "INC-1" }],
      });
      expect(task?.createdAt).toBeInstanceOf(Date);
      const arn = task!.taskArn!;
      const describe = async () =>
        (await client.send(new DescribeTasksCommand({ cluster: "incidents", tasks: [arn] })))
          .tasks![0]!;
      await until(describe, (t) => t.lastStatus === "RUNNING", 10_000);
      expect(
        (
          await client.send(
            new ListTasksCommand({ cluster: "incidents", startedBy: "conductor-test" }),
          )
        ).taskArns,
      ).toEqual([arn]);
      const stopped = await until(describe, (t) => t.lastStatus === "STOPPED", 20_000);
      expect(stopped).toMatchObject({
        stopCode: "EssentialContainerExited",
        desiredStatus: "STOPPED",
        containers: [expect.objectContaining({ name: "main", exitCode: 7, lastStatus: "STOPPED" })],
      });
      expect(
        (
          await client.send(
            new ListTasksCommand({ cluster: "incidents", desiredStatus: "STOPPED" }),
          )
        ).taskArns,
      ).toContain(arn);
      expect(
        (
          await client.send(
            new ListTasksCommand({ cluster: "incidents", startedBy: "conductor-test" }),
          )
        ).taskArns,
      ).toEqual([]);
    });

    it("stops a running task on request (UserInitiated)", async () => {
      const run = await client.send(
        new RunTaskCommand({ taskDefinition: "worker", startedBy: "stop-test" }),
      );
      const arn = run.tasks![0]!.taskArn!;
      await until(
        async () =>
          (await client.send(new DescribeTasksCommand({ tasks: [arn] }))).tasks![0]!.lastStatus,
        (s) => s === "RUNNING",
        10_000,
      );
      const stopped = await client.send(
        new StopTaskCommand({ task: arn, reason: "incident resolved" }),
      );
      expect(stopped.task).toMatchObject({
        lastStatus: "STOPPED",
        stopCode: "UserInitiated",
        stoppedReason: "incident resolved",
      });
      expect(stopped.task?.containers?.[0]?.exitCode).toBe(137);
    });

    it("fails a task whose image is missing with TaskFailedToStart, and rejects bad requests", async () => {
      await client.send(
        new RegisterTaskDefinitionCommand({
          family: "ghost",
          containerDefinitions: [{ name: "main", image: "no-such/image:0" }],
        }),
      );
      const arn = (await client.send(new RunTaskCommand({ taskDefinition: "ghost" }))).tasks![0]!
        .taskArn!;
      const task = await until(
        async () => (await client.send(new DescribeTasksCommand({ tasks: [arn] }))).tasks![0]!,
        (t) => t.lastStatus === "STOPPED",
        10_000,
      );
      expect(task).toMatchObject({
        stopCode: "TaskFailedToStart",
        stoppedReason: expect.stringContaining("image 'no-such/image:0' not found locally"),
      });
      const error = await client
        .send(
          new RegisterTaskDefinitionCommand({ family: "bad family!", containerDefinitions: [] }),
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ECSServiceException);
      expect(error).toMatchObject({
        name: "InvalidParameterException",
        message: expect.stringContaining("family"),
      });
      const missing = await client.send(
        new DescribeTasksCommand({
          tasks: ["arn:aws:ecs:us-east-1:000000000000:task/default/none"],
        }),
      );
      expect(missing.failures?.[0]).toMatchObject({ reason: "MISSING" });
    });
  },
);
