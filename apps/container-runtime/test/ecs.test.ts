import { randomUUID } from "node:crypto";
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ECSServiceException,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
} from "@aws-sdk/client-ecs";
import { DockerEngine, LABEL_OWNER } from "@org/workloads/docker";
import { shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import { silentLogger } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApi } from "../src/api/server.js";
import { EcsService, LABEL_ECS_TASK } from "../src/ecs/ecs-service.js";
import { Supervisor } from "../src/supervisor.js";

describe.runIf(shouldRunDockerTests())(
  "ECS-compatible endpoint through @aws-sdk/client-ecs (real Docker engine)",
  () => {
    const driver = new DockerEngine();
    // One owner per run, so containers an aborted run left behind are never adopted here.
    const owner = `ecs-test-${randomUUID().slice(0, 8)}`;
    const endpoints: Endpoint[] = [];
    let stateDir: string;
    let client: ECSClient;

    interface Endpoint {
      ecs: EcsService;
      app: FastifyInstance;
      client: ECSClient;
      address: string;
    }
    /** An endpoint as `serve` runs it: an EcsService on the engine, behind the HTTP API. */
    async function startEndpoint(): Promise<Endpoint> {
      const supervisor = new Supervisor({
        stateDir: await tempDir("ecs-supervisor"),
        strategy: "docker",
        driver,
        log: silentLogger,
        owner: `${owner}-supervisor`,
      });
      const service = new EcsService({
        driver,
        log: silentLogger,
        owner,
        region: "us-east-1",
        stateDir,
      });
      await service.start();
      const api = await buildApi(supervisor, service);
      const address = await api.listen({ port: 0, host: "127.0.0.1" });
      const endpoint = {
        ecs: service,
        app: api,
        address,
        client: new ECSClient({
          endpoint: address,
          region: "us-east-1",
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
          maxAttempts: 1,
        }),
      };
      endpoints.push(endpoint);
      return endpoint;
    }
    async function stopEndpoint(endpoint: Endpoint): Promise<void> {
      endpoint.client.destroy();
      await endpoint.app.close();
      await endpoint.ecs.stop();
    }

    beforeAll(async () => {
      stateDir = await tempDir("ecs-state");
      ({ client } = await startEndpoint());
    });
    afterAll(async () => {
      for (const endpoint of endpoints) await stopEndpoint(endpoint);
      for (const c of await driver.list({ [LABEL_OWNER]: owner })) await driver.remove(c.id);
    });

    /** Polls DescribeTasks (with tags) until `ok` accepts the task. */
    const describeUntil = (
      ecsClient: ECSClient,
      arn: string,
      ok: (t: Task) => boolean,
      ms = 10_000,
      cluster?: string,
    ) =>
      until(
        async () =>
          (
            await ecsClient.send(
              new DescribeTasksCommand({
                tasks: [arn],
                include: ["TAGS"],
                ...(cluster ? { cluster } : {}),
              }),
            )
          ).tasks![0]!,
        ok,
        ms,
        `task ${arn}`,
      );
    const taskContainers = (arn: string) => driver.list({ [LABEL_ECS_TASK]: arn });

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

    it("keeps its tasks across a restart: re-adopted from labels, definitions from the state dir", async () => {
      await client.send(
        new RegisterTaskDefinitionCommand({
          family: "survivor",
          containerDefinitions: [
            { name: "main", image: TEST_IMAGE, command: ["sleep", "600"], stopTimeout: 1 },
          ],
        }),
      );
      const first = endpoints[0]!;
      const run = await first.client.send(
        new RunTaskCommand({
          cluster: "restart",
          taskDefinition: "survivor",
          startedBy: "restart-test",
          group: "family:survivor",
          launchType: "EC2",
          clientToken: "restart-token-1",
          tags: [{ key: "incident", value: "INC-7" }],
          overrides: {
            containerOverrides: [{ name: "main", environment: [{ name: "A", value: "1" }] }],
          },
        }),
      );
      const arn = run.tasks![0]!.taskArn!;
      const before = await describeUntil(
        first.client,
        arn,
        (t) => t.lastStatus === "RUNNING",
        10_000,
        "restart",
      );

      await stopEndpoint(first);
      const second = await startEndpoint();
      const after = await describeUntil(second.client, arn, () => true, 10_000, "restart");
      expect(after).toMatchObject({
        taskArn: arn,
        lastStatus: "RUNNING",
        desiredStatus: "RUNNING",
        startedBy: "restart-test",
        group: "family:survivor",
        launchType: "EC2",
        clusterArn: "arn:aws:ecs:us-east-1:000000000000:cluster/restart",
        taskDefinitionArn: before.taskDefinitionArn,
        tags: [{ key: "incident", value: "INC-7" }],
        overrides: {
          containerOverrides: [{ name: "main", environment: [{ name: "A", value: "1" }] }],
        },
        containers: [
          expect.objectContaining({
            name: "main",
            lastStatus: "RUNNING",
            runtimeId: before.containers![0]!.runtimeId,
          }),
        ],
      });
      expect(after.createdAt).toEqual(before.createdAt);
      expect(
        (
          await second.client.send(
            new ListTasksCommand({ cluster: "restart", startedBy: "restart-test" }),
          )
        ).taskArns,
      ).toEqual([arn]);
      // The definition survived, and so did the client token: a retried RunTask launches nothing.
      expect(
        (
          await second.client.send(
            new DescribeTaskDefinitionCommand({ taskDefinition: "survivor" }),
          )
        ).taskDefinition?.taskDefinitionArn,
      ).toBe(before.taskDefinitionArn);
      const retried = await second.client.send(
        new RunTaskCommand({
          cluster: "restart",
          taskDefinition: "survivor",
          startedBy: "restart-test",
          group: "family:survivor",
          launchType: "EC2",
          clientToken: "restart-token-1",
          tags: [{ key: "incident", value: "INC-7" }],
          overrides: {
            containerOverrides: [{ name: "main", environment: [{ name: "A", value: "1" }] }],
          },
        }),
      );
      expect(retried.tasks?.map((t) => t.taskArn)).toEqual([arn]);
      expect(await taskContainers(arn)).toHaveLength(1);

      const stopped = await second.client.send(
        new StopTaskCommand({ cluster: "restart", task: arn, reason: "after restart" }),
      );
      expect(stopped.task).toMatchObject({
        lastStatus: "STOPPED",
        stopCode: "UserInitiated",
        stoppedReason: "after restart",
        containers: [expect.objectContaining({ exitCode: 137, lastStatus: "STOPPED" })],
      });
      expect(await taskContainers(arn)).toEqual([]);

      // A stopped task is history from the state dir: still described after another restart.
      await stopEndpoint(second);
      const third = await startEndpoint();
      expect(await describeUntil(third.client, arn, () => true, 10_000, "restart")).toMatchObject({
        lastStatus: "STOPPED",
        stopCode: "UserInitiated",
        stoppedReason: "after restart",
        containers: [expect.objectContaining({ exitCode: 137 })],
      });
      expect(
        (
          await third.client.send(
            new ListTasksCommand({ cluster: "restart", desiredStatus: "STOPPED" }),
          )
        ).taskArns,
      ).toEqual([arn]);
      client = third.client;
    });

    it("notices an essential container that exited while the endpoint was down", async () => {
      await client.send(
        new RegisterTaskDefinitionCommand({
          family: "short",
          containerDefinitions: [
            { name: "main", image: TEST_IMAGE, command: ["sh", "-c", "sleep 1; exit 3"] },
          ],
        }),
      );
      const current = endpoints.at(-1)!;
      const arn = (await current.client.send(new RunTaskCommand({ taskDefinition: "short" })))
        .tasks![0]!.taskArn!;
      await describeUntil(current.client, arn, (t) => t.lastStatus === "RUNNING");
      await stopEndpoint(current);
      await until(
        async () => (await taskContainers(arn))[0]?.state,
        (state) => state === "exited",
        10_000,
        "the task's container to exit while no endpoint watches",
      );
      const next = await startEndpoint();
      client = next.client;
      expect(await describeUntil(client, arn, (t) => t.lastStatus === "STOPPED")).toMatchObject({
        stopCode: "EssentialContainerExited",
        containers: [expect.objectContaining({ exitCode: 3, lastStatus: "STOPPED" })],
      });
      await until(
        () => taskContainers(arn),
        (left) => left.length === 0,
        10_000,
        "removal",
      );
    });

    it("returns the same tasks for a repeated clientToken and refuses it for a different request", async () => {
      const request = {
        cluster: "tokens",
        taskDefinition: "worker",
        startedBy: "token-test",
        clientToken: `token-${randomUUID()}`,
        count: 2,
      };
      const first = await client.send(new RunTaskCommand(request));
      const again = await client.send(new RunTaskCommand(request));
      const arns = first.tasks!.map((t) => t.taskArn!);
      expect(arns).toHaveLength(2);
      expect(again.tasks!.map((t) => t.taskArn)).toEqual(arns);
      for (const arn of arns)
        await describeUntil(client, arn, (t) => t.lastStatus === "RUNNING", 10_000, "tokens");
      for (const arn of arns) expect(await taskContainers(arn)).toHaveLength(1);
      await expect(client.send(new RunTaskCommand({ ...request, count: 1 }))).rejects.toMatchObject(
        {
          name: "ConflictException",
          message: expect.stringContaining(request.clientToken),
        },
      );
      // Tokens are per cluster, as in ECS.
      const elsewhere = await client.send(new RunTaskCommand({ ...request, cluster: "tokens-2" }));
      expect(elsewhere.tasks!.map((t) => t.taskArn)).not.toEqual(arns);
      for (const t of [...first.tasks!, ...elsewhere.tasks!])
        await client.send(new StopTaskCommand({ cluster: t.clusterArn, task: t.taskArn! }));
    });

    it("echoes launchType and networkConfiguration, and shows tags only when asked", async () => {
      const networkConfiguration = {
        awsvpcConfiguration: {
          subnets: ["subnet-0a1b2c"],
          securityGroups: ["sg-0d4e5f"],
          assignPublicIp: "DISABLED" as const,
        },
      };
      const run = await client.send(
        new RunTaskCommand({
          taskDefinition: "worker",
          launchType: "EC2",
          networkConfiguration,
          tags: [{ key: "team", value: "sre" }],
        }),
      );
      const arn = run.tasks![0]!.taskArn!;
      expect(run.tasks![0]).toMatchObject({ launchType: "EC2" });
      const untagged = await client.send(new DescribeTasksCommand({ tasks: [arn] }));
      expect(untagged.tasks![0]!.tags).toBeUndefined();
      const tagged = await client.send(
        new DescribeTasksCommand({ tasks: [arn], include: ["TAGS"] }),
      );
      expect(tagged.tasks![0]!.tags).toEqual([{ key: "team", value: "sre" }]);
      // The SDK drops networkConfiguration from a Task (ECS answers with ENI attachments), so read the wire.
      const raw = await fetch(endpoints.at(-1)!.address, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": "AmazonEC2ContainerServiceV20141113.DescribeTasks",
        },
        body: JSON.stringify({ tasks: [arn] }),
      });
      expect(await raw.json()).toMatchObject({
        tasks: [{ taskArn: arn, launchType: "EC2", networkConfiguration }],
      });
      await client.send(new StopTaskCommand({ task: arn }));
    });

    it("pages ListTasks with maxResults and nextToken", async () => {
      const startedBy = `pager-${randomUUID().slice(0, 8)}`;
      const run = await client.send(
        new RunTaskCommand({ cluster: "paging", taskDefinition: "worker", startedBy, count: 3 }),
      );
      const all = run.tasks!.map((t) => t.taskArn!);
      const first = await client.send(
        new ListTasksCommand({ cluster: "paging", startedBy, maxResults: 2 }),
      );
      expect(first.taskArns).toHaveLength(2);
      expect(first.nextToken).toEqual(expect.any(String));
      const second = await client.send(
        new ListTasksCommand({
          cluster: "paging",
          startedBy,
          maxResults: 2,
          nextToken: first.nextToken,
        }),
      );
      expect(second.taskArns).toHaveLength(1);
      expect(second.nextToken).toBeUndefined();
      expect([...first.taskArns!, ...second.taskArns!].sort()).toEqual([...all].sort());
      await expect(
        client.send(new ListTasksCommand({ cluster: "paging", nextToken: "bogus" })),
      ).rejects.toMatchObject({
        name: "InvalidParameterException",
        message: expect.stringContaining("nextToken"),
      });
      await expect(
        client.send(new ListTasksCommand({ cluster: "paging", maxResults: 101 })),
      ).rejects.toMatchObject({ name: "InvalidParameterException" });
      for (const arn of all)
        await client.send(new StopTaskCommand({ cluster: "paging", task: arn }));
    });
  },
);
