import type { Task } from "@aws-sdk/client-ecs";
import {
  LABEL_OWNER,
  type Labels,
  type ObservedWorkload,
  type WorkloadState,
} from "../../driver.js";

/** The task tag that carries the workload's name (ECS tasks have none of their own). */
export const TAG_WORKLOAD_NAME = "org.reconcile.workload-name";

const PENDING = new Set(["PROVISIONING", "PENDING", "ACTIVATING"]);
const STOPPING = new Set(["DEACTIVATING", "STOPPING", "DEPROVISIONING"]);

/**
 * A task as a workload. `essential` names the task definition's essential containers in order;
 * the first of them that reports an exit code is the workload's. A stopping task is `exited`
 * once that container has stopped; until then it still runs (its grace period), and calling it
 * exited would report an exit code nobody has seen yet.
 */
export function observeTask(task: Task, essential: string[]): ObservedWorkload {
  const containers = task.containers ?? [];
  const ordered = [
    ...essential.flatMap((name) => containers.filter((c) => c.name === name)),
    ...(essential.length ? [] : containers),
  ];
  const main = ordered.find((c) => c.exitCode !== undefined) ?? ordered[0];
  const status = task.lastStatus ?? "PROVISIONING";
  const state: WorkloadState = PENDING.has(status)
    ? "pending"
    : status === "RUNNING"
      ? "running"
      : STOPPING.has(status) && main?.exitCode === undefined && main?.lastStatus !== "STOPPED"
        ? "running"
        : "exited";
  const labels: Labels = Object.fromEntries(
    (task.tags ?? [])
      .filter((t) => t.key !== undefined && t.key !== TAG_WORKLOAD_NAME)
      .map((t) => [t.key!, t.value ?? ""]),
  );
  if (task.startedBy !== undefined) labels[LABEL_OWNER] = task.startedBy;
  const taskArn = task.taskArn ?? "";
  const details: Record<string, unknown> = {
    taskArn,
    lastStatus: status,
    ...(task.desiredStatus ? { desiredStatus: task.desiredStatus } : {}),
    ...(task.launchType ? { launchType: task.launchType } : {}),
    ...(task.taskDefinitionArn ? { taskDefinitionArn: task.taskDefinitionArn } : {}),
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
    ...(main?.name ? { container: main.name } : {}),
    ...(main?.reason ? { containerReason: main.reason } : {}),
  };
  const finishedAt = task.stoppedAt ?? task.executionStoppedAt;
  return {
    id: taskArn,
    name: task.tags?.find((t) => t.key === TAG_WORKLOAD_NAME)?.value ?? taskArn.split("/").pop()!,
    state,
    ...(state === "exited" ? { exitCode: main?.exitCode ?? 137 } : {}),
    ...(task.startedAt ? { startedAt: task.startedAt } : {}),
    ...(state === "exited" && finishedAt ? { finishedAt } : {}),
    labels,
    details,
  };
}
