import { randomUUID } from "node:crypto";
import {
  type ContainerSpec,
  ContainerSpecSchema,
  type DockerDriver,
  LABEL_OWNER,
} from "@org/docker";
import { formatIssues, type Logger } from "@org/reconcile-core";
import { z } from "zod";

/** An ECS error, as the AWS JSON protocol carries it: `{"__type": name, "message": ...}` with HTTP 400. */
export class EcsError extends Error {
  constructor(
    readonly type:
      | "ClientException"
      | "InvalidParameterException"
      | "ServerException"
      | "ClusterNotFoundException"
      | "UnknownOperationException",
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const KeyValue = z.object({ name: z.string(), value: z.string() }).loose();
const Tag = z.object({ key: z.string(), value: z.string().optional() }).loose();

const ContainerDefinition = z
  .object({
    name: z.string().min(1),
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    entryPoint: z.array(z.string()).optional(),
    environment: z.array(KeyValue).optional(),
    cpu: z.number().int().nonnegative().optional(),
    memory: z.number().int().positive().optional(),
    essential: z.boolean().optional(),
    portMappings: z
      .array(
        z
          .object({
            containerPort: z.number().int(),
            hostPort: z.number().int().optional(),
            protocol: z.enum(["tcp", "udp"]).optional(),
          })
          .loose(),
      )
      .optional(),
    stopTimeout: z.number().int().positive().optional(),
    workingDirectory: z.string().optional(),
    user: z.string().optional(),
  })
  .loose();

const RegisterTaskDefinition = z
  .object({
    family: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "family: letters, digits, _ and -"),
    containerDefinitions: z.array(ContainerDefinition).min(1),
  })
  .loose();
const DescribeTaskDefinition = z.object({ taskDefinition: z.string().min(1) }).loose();
const RunTask = z
  .object({
    cluster: z.string().optional(),
    taskDefinition: z.string().min(1),
    count: z.number().int().min(1).max(10).optional(),
    startedBy: z.string().max(128).optional(),
    group: z.string().optional(),
    tags: z.array(Tag).optional(),
    overrides: z
      .object({
        containerOverrides: z
          .array(
            z
              .object({
                name: z.string(),
                command: z.array(z.string()).optional(),
                environment: z.array(KeyValue).optional(),
              })
              .loose(),
          )
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
const DescribeTasks = z
  .object({ cluster: z.string().optional(), tasks: z.array(z.string()).min(1).max(100) })
  .loose();
const StopTask = z
  .object({
    cluster: z.string().optional(),
    task: z.string().min(1),
    reason: z.string().optional(),
  })
  .loose();
const ListTasks = z
  .object({
    cluster: z.string().optional(),
    startedBy: z.string().optional(),
    family: z.string().optional(),
    desiredStatus: z.enum(["RUNNING", "PENDING", "STOPPED"]).optional(),
    maxResults: z.number().int().positive().optional(),
  })
  .loose();

type TaskDefinition = z.infer<typeof RegisterTaskDefinition> & {
  taskDefinitionArn: string;
  revision: number;
  status: "ACTIVE";
};

interface TaskContainer {
  containerArn: string;
  name: string;
  image: string;
  essential: boolean;
  lastStatus: "PENDING" | "RUNNING" | "STOPPED";
  exitCode?: number;
  reason?: string;
  runtimeId?: string;
  /** SIGTERM to SIGKILL, from the definition's `stopTimeout` (ECS's default: 30 s). */
  stopTimeoutMs: number;
}

interface Task {
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  startedBy?: string;
  group?: string;
  tags: Array<z.infer<typeof Tag>>;
  overrides: z.infer<typeof RunTask>["overrides"];
  lastStatus: "PROVISIONING" | "PENDING" | "RUNNING" | "DEPROVISIONING" | "STOPPED";
  desiredStatus: "RUNNING" | "STOPPED";
  stopCode?: "TaskFailedToStart" | "EssentialContainerExited" | "UserInitiated";
  stoppedReason?: string;
  createdAt: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  containers: TaskContainer[];
  launchType: "FARGATE";
}

export const LABEL_ECS_TASK = "org.reconcile.ecs-task";

/**
 * The subset of the Amazon ECS API a scheduler needs, running tasks as local containers:
 * RegisterTaskDefinition, DescribeTaskDefinition, RunTask, DescribeTasks, StopTask, ListTasks.
 * Tasks go PROVISIONING -> RUNNING -> STOPPED with ECS's stop codes and container exit codes.
 * State is in memory: a restarted runtime forgets its tasks (their containers are removed).
 */
export class EcsService {
  readonly #driver: DockerDriver;
  readonly #owner: string;
  readonly #region: string;
  readonly #log: Logger;
  readonly #families = new Map<string, TaskDefinition[]>();
  readonly #tasks = new Map<string, Task>();
  #poll?: NodeJS.Timeout;

  constructor(options: { driver: DockerDriver; owner?: string; region?: string; log: Logger }) {
    this.#driver = options.driver;
    this.#owner = options.owner ?? "container-runtime-ecs";
    this.#region = options.region ?? "us-east-1";
    this.#log = options.log;
  }

  /** Starts watching task containers; removes containers left by a previous run. */
  async start(): Promise<void> {
    for (const c of await this.#driver.list({ [LABEL_OWNER]: this.#owner }))
      await this.#driver.remove(c.id);
    this.#poll = setInterval(() => void this.#refresh(), 250);
    this.#poll.unref();
  }

  stop(): void {
    clearInterval(this.#poll);
  }

  /** Dispatches one call by its `X-Amz-Target` operation name. */
  async call(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case "RegisterTaskDefinition":
        return this.registerTaskDefinition(parse(RegisterTaskDefinition, body));
      case "DescribeTaskDefinition":
        return {
          taskDefinition: this.#definition(parse(DescribeTaskDefinition, body).taskDefinition),
        };
      case "RunTask":
        return this.runTask(parse(RunTask, body));
      case "DescribeTasks":
        return this.describeTasks(parse(DescribeTasks, body));
      case "StopTask":
        return this.stopTask(parse(StopTask, body));
      case "ListTasks":
        return this.listTasks(parse(ListTasks, body));
      default:
        throw new EcsError(
          "UnknownOperationException",
          `operation ${operation} is not supported by this endpoint; supported: RegisterTaskDefinition, DescribeTaskDefinition, RunTask, DescribeTasks, StopTask, ListTasks`,
        );
    }
  }

  registerTaskDefinition(input: z.infer<typeof RegisterTaskDefinition>) {
    const revisions = this.#families.get(input.family) ?? [];
    const revision = revisions.length + 1;
    const definition: TaskDefinition = {
      ...input,
      revision,
      status: "ACTIVE",
      taskDefinitionArn: `${this.#arn("task-definition")}/${input.family}:${revision}`,
    };
    revisions.push(definition);
    this.#families.set(input.family, revisions);
    return { taskDefinition: definition };
  }

  async runTask(input: z.infer<typeof RunTask>) {
    const definition = this.#definition(input.taskDefinition);
    const cluster = this.#clusterArn(input.cluster);
    const tasks: Task[] = [];
    for (let i = 0; i < (input.count ?? 1); i++) {
      const taskId = randomUUID().replace(/-/g, "");
      const task: Task = {
        taskArn: `${this.#arn("task")}/${cluster.split("/")[1]}/${taskId}`,
        clusterArn: cluster,
        taskDefinitionArn: definition.taskDefinitionArn,
        ...(input.startedBy ? { startedBy: input.startedBy } : {}),
        ...(input.group ? { group: input.group } : {}),
        tags: input.tags ?? [],
        overrides: input.overrides ?? {},
        lastStatus: "PROVISIONING",
        desiredStatus: "RUNNING",
        createdAt: Date.now() / 1000,
        launchType: "FARGATE",
        containers: definition.containerDefinitions.map((c) => ({
          containerArn: `${this.#arn("container")}/${taskId}/${c.name}`,
          name: c.name,
          image: c.image,
          essential: c.essential ?? true,
          lastStatus: "PENDING",
          stopTimeoutMs: (c.stopTimeout ?? 30) * 1000,
        })),
      };
      this.#tasks.set(task.taskArn, task);
      tasks.push(task);
      void this.#launch(task, definition);
    }
    return { tasks: tasks.map(view), failures: [] };
  }

  describeTasks(input: z.infer<typeof DescribeTasks>) {
    const tasks: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of input.tasks) {
      const task = this.#find(ref);
      if (task) tasks.push(view(task));
      else failures.push({ arn: ref, reason: "MISSING" });
    }
    return { tasks, failures };
  }

  async stopTask(input: z.infer<typeof StopTask>) {
    const task = this.#find(input.task);
    if (!task)
      throw new EcsError(
        "InvalidParameterException",
        `The referenced task was not found: ${input.task}`,
      );
    if (task.lastStatus !== "STOPPED") {
      task.desiredStatus = "STOPPED";
      task.stoppingAt = Date.now() / 1000;
      task.stopCode = "UserInitiated";
      task.stoppedReason = input.reason ?? "Task stopped by user";
      await this.#stopContainers(task);
    }
    return { task: view(task) };
  }

  listTasks(input: z.infer<typeof ListTasks>) {
    const cluster = this.#clusterArn(input.cluster);
    const desired = input.desiredStatus === "STOPPED" ? "STOPPED" : "RUNNING";
    const arns = [...this.#tasks.values()]
      .filter((t) => t.clusterArn === cluster)
      .filter((t) => t.desiredStatus === desired)
      .filter((t) => input.startedBy === undefined || t.startedBy === input.startedBy)
      .filter(
        (t) => input.family === undefined || t.taskDefinitionArn.includes(`/${input.family}:`),
      )
      .map((t) => t.taskArn);
    return { taskArns: input.maxResults ? arns.slice(0, input.maxResults) : arns };
  }

  async #launch(task: Task, definition: TaskDefinition): Promise<void> {
    try {
      for (const def of definition.containerDefinitions) {
        const override = task.overrides?.containerOverrides?.find((o) => o.name === def.name);
        const env = Object.fromEntries(
          [...(def.environment ?? []), ...(override?.environment ?? [])].map((e) => [
            e.name,
            e.value,
          ]),
        );
        const spec: ContainerSpec = ContainerSpecSchema.parse({
          image: def.image,
          ...((override?.command ?? def.command)
            ? { command: override?.command ?? def.command }
            : {}),
          ...(def.entryPoint ? { entrypoint: def.entryPoint } : {}),
          env,
          ports: (def.portMappings ?? []).map((p) => ({
            container: p.containerPort,
            protocol: p.protocol ?? "tcp",
            ...(p.hostPort ? { host: p.hostPort } : {}),
          })),
          ...(def.memory ? { memory: `${def.memory}Mi` } : {}),
          ...(def.cpu ? { cpus: Math.max(0.01, def.cpu / 1024) } : {}),
          ...(def.user ? { user: def.user } : {}),
          restartPolicy: "no",
          stopGracePeriod: `${def.stopTimeout ?? 30}s`,
        });
        if (task.desiredStatus === "STOPPED") return;
        const container = task.containers.find((c) => c.name === def.name)!;
        container.runtimeId = await this.#driver.run(
          `ecs-${task.taskArn.split("/").pop()}-${def.name}`.replace(/[^a-zA-Z0-9_.-]/g, "-"),
          spec,
          {
            [LABEL_OWNER]: this.#owner,
            [LABEL_ECS_TASK]: task.taskArn,
          },
        );
        container.lastStatus = "RUNNING";
      }
      if (task.desiredStatus === "RUNNING") {
        task.lastStatus = "RUNNING";
        task.startedAt = Date.now() / 1000;
      }
    } catch (err) {
      this.#log.warn(
        { task: task.taskArn, error: (err as Error).message },
        "ECS task failed to start",
      );
      task.stopCode = "TaskFailedToStart";
      task.stoppedReason = `CannotStartContainerError: ${(err as Error).message}`;
      task.desiredStatus = "STOPPED";
      await this.#stopContainers(task);
    }
  }

  async #stopContainers(task: Task): Promise<void> {
    task.lastStatus = task.lastStatus === "STOPPED" ? "STOPPED" : "DEPROVISIONING";
    for (const c of task.containers) {
      if (!c.runtimeId) {
        c.lastStatus = "STOPPED";
        continue;
      }
      await this.#driver.stop(c.runtimeId, c.stopTimeoutMs);
      const observed = await this.#driver.inspect(c.runtimeId);
      if (observed?.exitCode !== undefined) c.exitCode = observed.exitCode;
      c.lastStatus = "STOPPED";
      await this.#driver.remove(c.runtimeId);
    }
    task.lastStatus = "STOPPED";
    task.stoppedAt = Date.now() / 1000;
  }

  /** Notices containers that exited: an essential one stops its task, as ECS does. */
  async #refresh(): Promise<void> {
    for (const task of this.#tasks.values()) {
      if (task.lastStatus !== "RUNNING") continue;
      for (const c of task.containers) {
        if (!c.runtimeId || c.lastStatus !== "RUNNING") continue;
        const observed = await this.#driver.inspect(c.runtimeId).catch(() => undefined);
        if (observed && observed.state !== "exited" && observed.state !== "dead") continue;
        c.lastStatus = "STOPPED";
        if (observed?.exitCode !== undefined) c.exitCode = observed.exitCode;
        if (c.essential && task.desiredStatus === "RUNNING") {
          task.desiredStatus = "STOPPED";
          task.stopCode = "EssentialContainerExited";
          task.stoppedReason = "Essential container in task exited";
          task.stoppingAt = Date.now() / 1000;
          await this.#stopContainers(task);
        }
      }
    }
  }

  #definition(ref: string): TaskDefinition {
    const name = ref.includes("task-definition/") ? ref.split("task-definition/")[1]! : ref;
    const [family, revision] = name.split(":");
    const revisions = this.#families.get(family!) ?? [];
    const found = revision
      ? revisions.find((d) => d.revision === Number(revision))
      : revisions.at(-1);
    if (!found) throw new EcsError("ClientException", `Unable to describe task definition: ${ref}`);
    return found;
  }

  #find(ref: string): Task | undefined {
    return (
      this.#tasks.get(ref) ?? [...this.#tasks.values()].find((t) => t.taskArn.endsWith(`/${ref}`))
    );
  }

  #clusterArn(cluster: string | undefined): string {
    if (cluster?.startsWith("arn:")) return cluster;
    return `${this.#arn("cluster")}/${cluster ?? "default"}`;
  }

  #arn(resource: string): string {
    return `arn:aws:ecs:${this.#region}:000000000000:${resource}`;
  }
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw new EcsError("InvalidParameterException", formatIssues(result.error));
  return result.data;
}

function view(task: Task) {
  const { overrides, ...rest } = task;
  return {
    ...rest,
    overrides: { containerOverrides: overrides?.containerOverrides ?? [] },
    containers: task.containers.map(({ runtimeId, stopTimeoutMs: _stop, ...c }) => ({
      ...c,
      taskArn: task.taskArn,
      ...(runtimeId ? { runtimeId } : {}),
    })),
  };
}
