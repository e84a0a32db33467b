import { formatIssues } from "@org/reconcile-core";
import { z } from "zod";
import {
  LaunchTypeSchema,
  NetworkConfigurationSchema,
  TagSchema,
  TaskOverrideSchema,
} from "./ecs-api.js";
import type { Task, TaskContainer } from "./task.js";

export const LABEL_ECS_TASK = "org.reconcile.ecs-task";
const P = "org.reconcile.ecs.";
/** Container labels that carry everything needed to rebuild a task after a restart. */
export const ECS_LABELS = {
  task: LABEL_ECS_TASK,
  taskDefinition: `${P}task-definition`,
  cluster: `${P}cluster`,
  startedBy: `${P}started-by`,
  group: `${P}group`,
  tags: `${P}tags`,
  overrides: `${P}overrides`,
  launchType: `${P}launch-type`,
  networkConfiguration: `${P}network-configuration`,
  clientToken: `${P}client-token`,
  requestHash: `${P}request-hash`,
  createdAt: `${P}created-at`,
  container: `${P}container`,
  /** Every container of the task (name, image, essential, stop timeout), so a missing one is noticed. */
  taskContainers: `${P}task-containers`,
} as const;

const ContainerEntry = z.object({
  name: z.string(),
  image: z.string(),
  essential: z.boolean(),
  stopTimeoutMs: z.number().int().nonnegative(),
});

const json = <S extends z.ZodType>(schema: S) =>
  z.string().transform((text, ctx): z.infer<S> => {
    try {
      return schema.parse(JSON.parse(text));
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        message: err instanceof z.ZodError ? formatIssues(err) : "not JSON",
      });
      return z.NEVER;
    }
  });
const seconds = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "seconds since the epoch")
  .transform(Number);

const TaskLabelsSchema = z.object({
  [ECS_LABELS.task]: z.string().startsWith("arn:"),
  [ECS_LABELS.taskDefinition]: z.string().startsWith("arn:"),
  [ECS_LABELS.cluster]: z.string().startsWith("arn:"),
  [ECS_LABELS.startedBy]: z.string().optional(),
  [ECS_LABELS.group]: z.string().optional(),
  [ECS_LABELS.tags]: json(z.array(TagSchema)),
  [ECS_LABELS.overrides]: json(TaskOverrideSchema),
  [ECS_LABELS.launchType]: LaunchTypeSchema,
  [ECS_LABELS.networkConfiguration]: json(NetworkConfigurationSchema).optional(),
  [ECS_LABELS.clientToken]: z.string().optional(),
  [ECS_LABELS.requestHash]: z.string().optional(),
  [ECS_LABELS.createdAt]: seconds,
  [ECS_LABELS.container]: z.string(),
  [ECS_LABELS.taskContainers]: json(z.array(ContainerEntry).min(1)),
});

/** The labels of `container`'s Docker container: the task's launch facts, none of its later state. */
export function taskLabels(task: Task, container: TaskContainer): Record<string, string> {
  const entries = task.containers.map(({ name, image, essential, stopTimeoutMs }) => ({
    name,
    image,
    essential,
    stopTimeoutMs,
  }));
  return {
    [ECS_LABELS.task]: task.taskArn,
    [ECS_LABELS.taskDefinition]: task.taskDefinitionArn,
    [ECS_LABELS.cluster]: task.clusterArn,
    ...(task.startedBy !== undefined ? { [ECS_LABELS.startedBy]: task.startedBy } : {}),
    ...(task.group !== undefined ? { [ECS_LABELS.group]: task.group } : {}),
    [ECS_LABELS.tags]: JSON.stringify(task.tags),
    [ECS_LABELS.overrides]: JSON.stringify(task.overrides),
    [ECS_LABELS.launchType]: task.launchType,
    ...(task.networkConfiguration
      ? { [ECS_LABELS.networkConfiguration]: JSON.stringify(task.networkConfiguration) }
      : {}),
    ...(task.clientToken !== undefined ? { [ECS_LABELS.clientToken]: task.clientToken } : {}),
    ...(task.requestHash !== undefined ? { [ECS_LABELS.requestHash]: task.requestHash } : {}),
    [ECS_LABELS.createdAt]: String(task.createdAt),
    [ECS_LABELS.container]: container.name,
    [ECS_LABELS.taskContainers]: JSON.stringify(entries),
  };
}

/** What adoption needs to know of a Docker container. */
export interface LabelledContainer {
  id: string;
  state: string;
  exitCode?: number;
  startedAt?: Date;
  labels: Record<string, string>;
}

export type AdoptedTask =
  | { ok: true; task: Task; containerIds: string[] }
  | { ok: false; containerIds: string[]; error: string };

/**
 * Rebuilds tasks from their containers' labels, grouped by task ARN. A container still being
 * created, or one missing from its task, means the launch was cut short: those tasks come back
 * PENDING for the caller to fail. Exit codes and start times come from the engine, not labels.
 */
export function tasksFromContainers(
  containers: LabelledContainer[],
  arn: (resource: string) => string,
): AdoptedTask[] {
  const groups = new Map<string, LabelledContainer[]>();
  for (const c of containers) {
    const key = c.labels[ECS_LABELS.task] ?? "";
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const adopted: AdoptedTask[] = [];
  for (const [taskArn, group] of groups) {
    const containerIds = group.map((c) => c.id);
    const parsed: Array<z.infer<typeof TaskLabelsSchema>> = [];
    let error: string | undefined;
    for (const c of group) {
      const result = TaskLabelsSchema.safeParse(c.labels);
      if (result.success) parsed.push(result.data);
      else error ??= formatIssues(result.error);
    }
    if (error !== undefined || parsed[0] === undefined) {
      adopted.push({
        ok: false,
        containerIds,
        error: `task ${taskArn || "(no task ARN)"}: container labels ${error}`,
      });
      continue;
    }
    const labels = parsed[0];
    const byName = new Map(group.map((c, i) => [parsed[i]![ECS_LABELS.container], c]));
    const taskId = taskArn.split("/").pop()!;
    const startedAt = group
      .map((c) => c.startedAt?.getTime())
      .filter((t): t is number => t !== undefined && t > 0);
    const task: Task = {
      taskArn,
      clusterArn: labels[ECS_LABELS.cluster],
      taskDefinitionArn: labels[ECS_LABELS.taskDefinition],
      ...(labels[ECS_LABELS.startedBy] !== undefined
        ? { startedBy: labels[ECS_LABELS.startedBy] }
        : {}),
      ...(labels[ECS_LABELS.group] !== undefined ? { group: labels[ECS_LABELS.group] } : {}),
      tags: labels[ECS_LABELS.tags],
      overrides: labels[ECS_LABELS.overrides],
      launchType: labels[ECS_LABELS.launchType],
      ...(labels[ECS_LABELS.networkConfiguration]
        ? { networkConfiguration: labels[ECS_LABELS.networkConfiguration] }
        : {}),
      ...(labels[ECS_LABELS.clientToken] !== undefined
        ? { clientToken: labels[ECS_LABELS.clientToken] }
        : {}),
      ...(labels[ECS_LABELS.requestHash] !== undefined
        ? { requestHash: labels[ECS_LABELS.requestHash] }
        : {}),
      createdAt: labels[ECS_LABELS.createdAt],
      lastStatus: "PENDING",
      desiredStatus: "RUNNING",
      containers: labels[ECS_LABELS.taskContainers].map((entry) => {
        const found = byName.get(entry.name);
        const started = found !== undefined && found.state !== "created";
        return {
          ...entry,
          containerArn: `${arn("container")}/${taskId}/${entry.name}`,
          lastStatus: started ? "RUNNING" : "PENDING",
          ...(found ? { runtimeId: found.id } : {}),
        };
      }),
    };
    if (task.containers.every((c) => c.lastStatus === "RUNNING")) {
      task.lastStatus = "RUNNING";
      if (startedAt.length) task.startedAt = Math.max(...startedAt) / 1000;
    }
    adopted.push({ ok: true, task, containerIds });
  }
  return adopted;
}
