import { z } from "zod";
import {
  LaunchTypeSchema,
  NetworkConfigurationSchema,
  TagSchema,
  TaskOverrideSchema,
} from "./ecs-api.js";

const TaskContainerSchema = z.object({
  containerArn: z.string(),
  name: z.string(),
  image: z.string(),
  essential: z.boolean(),
  lastStatus: z.enum(["PENDING", "RUNNING", "STOPPED"]),
  exitCode: z.number().int().optional(),
  reason: z.string().optional(),
  runtimeId: z.string().optional(),
  /** SIGTERM to SIGKILL, from the definition's `stopTimeout` (ECS's default: 30 s). */
  stopTimeoutMs: z.number().int().nonnegative(),
});
export type TaskContainer = z.infer<typeof TaskContainerSchema>;

/** One task as this endpoint keeps it; times are seconds since the epoch, as ECS's wire format has them. */
export const TaskSchema = z.object({
  taskArn: z.string(),
  clusterArn: z.string(),
  taskDefinitionArn: z.string(),
  startedBy: z.string().optional(),
  group: z.string().optional(),
  tags: z.array(TagSchema),
  overrides: TaskOverrideSchema,
  launchType: LaunchTypeSchema,
  networkConfiguration: NetworkConfigurationSchema.optional(),
  lastStatus: z.enum(["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"]),
  desiredStatus: z.enum(["RUNNING", "STOPPED"]),
  stopCode: z.enum(["TaskFailedToStart", "EssentialContainerExited", "UserInitiated"]).optional(),
  stoppedReason: z.string().optional(),
  createdAt: z.number(),
  startedAt: z.number().optional(),
  stoppingAt: z.number().optional(),
  stoppedAt: z.number().optional(),
  containers: z.array(TaskContainerSchema),
  /** RunTask's idempotency token and a hash of the rest of its request (never shown). */
  clientToken: z.string().optional(),
  requestHash: z.string().optional(),
});
export type Task = z.infer<typeof TaskSchema>;

/** Seconds since the epoch, ECS's timestamp unit on the wire. */
export const nowSeconds = (): number => Date.now() / 1000;

/** The task as ECS's API shows it; tags only when asked for (DescribeTasks `include: ["TAGS"]`). */
export function taskView(task: Task, options: { tags: boolean }) {
  const { overrides, clientToken: _token, requestHash: _hash, tags, ...rest } = task;
  return {
    ...rest,
    ...(options.tags ? { tags } : {}),
    overrides: { containerOverrides: overrides.containerOverrides ?? [] },
    containers: task.containers.map(({ runtimeId, stopTimeoutMs: _stop, ...c }) => ({
      ...c,
      taskArn: task.taskArn,
      ...(runtimeId ? { runtimeId } : {}),
    })),
  };
}
