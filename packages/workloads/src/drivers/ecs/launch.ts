import { createHash } from "node:crypto";
import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { type CreateRequest, LABEL_OWNER, LABEL_RESOURCE, LABEL_SPEC_HASH } from "../../driver.js";
import type { EcsSpec } from "./spec.js";
import { TAG_WORKLOAD_NAME } from "./observe.js";

/** ECS's rule for `startedBy`. */
const STARTED_BY = /^[A-Za-z0-9_/-]{1,128}$/;

/**
 * RunTask's `clientToken`: one per launch of one spec of one resource, so a retried create
 * returns the task the first attempt launched instead of launching a second (64 hex characters,
 * ECS's maximum).
 */
export function clientToken(request: CreateRequest<EcsSpec>): string {
  return createHash("sha256")
    .update(
      [
        request.labels[LABEL_OWNER] ?? "",
        request.labels[LABEL_RESOURCE] ?? "",
        request.labels[LABEL_SPEC_HASH] ?? "",
        request.idempotencyKey,
      ].join("\n"),
    )
    .digest("hex");
}

/** The RunTask request for one workload; the owner label becomes `startedBy`, the other labels task tags. */
export function runTaskInput(
  request: CreateRequest<EcsSpec>,
  cluster: string,
  container: string,
): RunTaskCommandInput {
  const { spec, labels, name } = request;
  const owner = labels[LABEL_OWNER];
  if (owner === undefined || !STARTED_BY.test(owner))
    throw new TypeError(
      `ECS workload ${name}: the owner label ${LABEL_OWNER}=${JSON.stringify(owner)} must be 1-128 letters, digits, _, - or / (it becomes RunTask startedBy)`,
    );
  const tags: Record<string, string> = { ...spec.tags, ...labels, [TAG_WORKLOAD_NAME]: name };
  delete tags[LABEL_OWNER];
  const environment = Object.entries(spec.environment).map(([k, v]) => ({ name: k, value: v }));
  return {
    cluster,
    taskDefinition: spec.taskDefinition,
    count: 1,
    launchType: spec.launchType,
    startedBy: owner,
    clientToken: clientToken(request),
    tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    ...(spec.network
      ? {
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: spec.network.subnets,
              ...(spec.network.securityGroups.length
                ? { securityGroups: spec.network.securityGroups }
                : {}),
              assignPublicIp: spec.network.assignPublicIp ? "ENABLED" : "DISABLED",
            },
          },
        }
      : {}),
    ...(spec.command || environment.length
      ? {
          overrides: {
            containerOverrides: [
              {
                name: container,
                ...(spec.command ? { command: spec.command } : {}),
                ...(environment.length ? { environment } : {}),
              },
            ],
          },
        }
      : {}),
  };
}
