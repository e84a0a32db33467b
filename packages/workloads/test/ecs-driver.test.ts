import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { LABEL_OWNER, LABEL_RESOURCE, LABEL_SPEC_HASH } from "../src/driver.js";
import {
  clientToken,
  EcsSpecSchema,
  observeTask,
  runTaskInput,
  TAG_WORKLOAD_NAME,
} from "../src/drivers/ecs/index.js";

// The driver against a real endpoint is apps/container-runtime/test/ecs-driver.test.ts
// (packages may not import apps); these are its pure parts and its packaging.

const request = (idempotencyKey = "k1") => ({
  name: "web-1",
  spec: EcsSpecSchema.parse({
    taskDefinition: "web:3",
    command: ["serve"],
    environment: { PORT: "8080" },
    network: { subnets: ["subnet-1"], securityGroups: ["sg-1"], assignPublicIp: true },
    tags: { team: "sre" },
  }),
  labels: { [LABEL_OWNER]: "edge-agent", [LABEL_RESOURCE]: "web", [LABEL_SPEC_HASH]: "abc" },
  idempotencyKey,
});

describe("ECS RunTask request", () => {
  it("maps the owner to startedBy, labels and spec tags to tags, and the spec to overrides and awsvpc", () => {
    expect(runTaskInput(request(), "prod", "app")).toEqual({
      cluster: "prod",
      taskDefinition: "web:3",
      count: 1,
      launchType: "FARGATE",
      startedBy: "edge-agent",
      clientToken: clientToken(request()),
      tags: [
        { key: "team", value: "sre" },
        { key: LABEL_RESOURCE, value: "web" },
        { key: LABEL_SPEC_HASH, value: "abc" },
        { key: TAG_WORKLOAD_NAME, value: "web-1" },
      ],
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ["subnet-1"],
          securityGroups: ["sg-1"],
          assignPublicIp: "ENABLED",
        },
      },
      overrides: {
        containerOverrides: [
          { name: "app", command: ["serve"], environment: [{ name: "PORT", value: "8080" }] },
        ],
      },
    });
  });

  it("derives one clientToken per launch, within ECS's 64 characters", () => {
    const token = clientToken(request());
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(clientToken(request())).toBe(token);
    expect(clientToken(request("k2"))).not.toBe(token);
    const otherSpec = { ...request(), labels: { ...request().labels, [LABEL_SPEC_HASH]: "def" } };
    expect(clientToken(otherSpec)).not.toBe(token);
  });

  it("refuses an owner ECS would refuse as startedBy", () => {
    const bad = { ...request(), labels: { ...request().labels, [LABEL_OWNER]: "has space" } };
    expect(() => runTaskInput(bad, "prod", "app")).toThrow(/must be 1-128 letters/);
  });
});

describe("ECS task as a workload", () => {
  const task = (overrides: Partial<Task>): Task => ({
    taskArn: "arn:aws:ecs:us-east-1:1:task/prod/abc",
    startedBy: "edge-agent",
    tags: [
      { key: LABEL_RESOURCE, value: "web" },
      { key: TAG_WORKLOAD_NAME, value: "web-1" },
    ],
    containers: [
      { name: "sidecar", lastStatus: "RUNNING" },
      { name: "app", lastStatus: "RUNNING" },
    ],
    ...overrides,
  });

  it.each([
    ["PROVISIONING", "pending"],
    ["PENDING", "pending"],
    ["ACTIVATING", "pending"],
    ["RUNNING", "running"],
  ])("%s is %s", (lastStatus, state) => {
    expect(observeTask(task({ lastStatus }), ["app"]).state).toBe(state);
  });

  it("is exited once stopping with the essential container's exit code, and running until then", () => {
    const stoppingUnknown = observeTask(task({ lastStatus: "DEACTIVATING" }), ["app"]);
    expect(stoppingUnknown.state).toBe("running");
    for (const lastStatus of ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]) {
      const observed = observeTask(
        task({
          lastStatus,
          stopCode: "EssentialContainerExited",
          stoppedReason: "Essential container in task exited",
          containers: [
            { name: "sidecar", lastStatus: "STOPPED", exitCode: 137 },
            { name: "app", lastStatus: "STOPPED", exitCode: 3 },
          ],
        }),
        ["app"],
      );
      expect(observed).toMatchObject({
        state: "exited",
        exitCode: 3,
        details: expect.objectContaining({
          stopCode: "EssentialContainerExited",
          stoppedReason: "Essential container in task exited",
          container: "app",
        }),
      });
    }
  });

  it("reports 137 for a task that stopped without an exit code (failed to start)", () => {
    const observed = observeTask(
      task({
        lastStatus: "STOPPED",
        stopCode: "TaskFailedToStart",
        containers: [{ name: "app", lastStatus: "STOPPED" }],
      }),
      ["app"],
    );
    expect(observed).toMatchObject({ state: "exited", exitCode: 137 });
  });

  it("gives back the labels: owner from startedBy, the rest from tags, the name from its tag", () => {
    expect(observeTask(task({ lastStatus: "RUNNING" }), ["app"])).toMatchObject({
      id: "arn:aws:ecs:us-east-1:1:task/prod/abc",
      name: "web-1",
      labels: { [LABEL_OWNER]: "edge-agent", [LABEL_RESOURCE]: "web" },
    });
  });
});

describe("packaging", () => {
  it("loads the AWS SDK only by dynamic import, so the main entry never pulls it in", async () => {
    const src = join(import.meta.dirname, "../src");
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith(".ts"));
    const offenders: string[] = [];
    for (const file of files) {
      const text = await readFile(join(src, file), "utf8");
      for (const m of text.matchAll(
        /^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+"@aws-sdk\/[^"]*"/gm,
      ))
        offenders.push(`${file}: ${m[0].trim()}`);
    }
    expect(offenders).toEqual([]);
  });
});
