import { randomUUID } from "node:crypto";
import {
  type ContainerSpec,
  ContainerSpecSchema,
  type DockerEngine,
  LABEL_OWNER,
} from "@org/workloads/docker";
import { canonicalHash, type Logger } from "@org/reconcile-core";
import {
  DescribeTaskDefinitionSchema,
  type DescribeTasksInput,
  DescribeTasksSchema,
  EcsError,
  type ListTasksInput,
  ListTasksSchema,
  parseRequest,
  type RegisterTaskDefinitionInput,
  RegisterTaskDefinitionSchema,
  type RunTaskInput,
  RunTaskSchema,
  type StopTaskInput,
  StopTaskSchema,
  type TaskDefinition,
} from "./ecs-api.js";
import { EcsStore } from "./ecs-store.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { nowSeconds, type Task, taskView } from "./task.js";
import { taskLabels, tasksFromContainers } from "./task-labels.js";

export { EcsError } from "./ecs-api.js";
export { LABEL_ECS_TASK } from "./task-labels.js";

/** ECS shows a stopped task for at least an hour. */
const DEFAULT_STOPPED_TASK_RETENTION_MS = 60 * 60 * 1000;
/** ECS remembers a RunTask client token for 24 hours. */
const CLIENT_TOKEN_TTL_S = 24 * 60 * 60;

export interface EcsServiceOptions {
  driver: DockerEngine;
  /** The owner label on task containers; one owner per endpoint on an engine. */
  owner?: string;
  region?: string;
  log: Logger;
  /** The runtime's state dir: task definitions and stop decisions go under `<stateDir>/ecs` (else memory only). */
  stateDir?: string;
  /** How long a stopped task stays visible to DescribeTasks and ListTasks (default: an hour, as ECS). */
  stoppedTaskRetentionMs?: number;
}

interface ClientTokenRecord {
  requestHash: string;
  taskArns: string[];
  at: number;
}

/**
 * The subset of the Amazon ECS API a scheduler needs, running tasks as local containers:
 * RegisterTaskDefinition, DescribeTaskDefinition, RunTask, DescribeTasks, StopTask, ListTasks.
 * Tasks go PROVISIONING -> RUNNING -> STOPPED with ECS's stop codes and container exit codes.
 * A restarted endpoint rebuilds its running tasks from their containers' labels, and its task
 * definitions and stopped tasks from the state dir.
 */
export class EcsService {
  readonly #driver: DockerEngine;
  readonly #owner: string;
  readonly #region: string;
  readonly #log: Logger;
  readonly #store: EcsStore;
  readonly #retentionMs: number;
  readonly #families = new Map<string, TaskDefinition[]>();
  readonly #tasks = new Map<string, Task>();
  readonly #clientTokens = new Map<string, ClientTokenRecord>();
  readonly #stopping = new Map<string, Promise<void>>();
  readonly #work = new Set<Promise<unknown>>();
  #refreshing = false;
  #poll?: NodeJS.Timeout;

  constructor(options: EcsServiceOptions) {
    this.#driver = options.driver;
    this.#owner = options.owner ?? "container-runtime-ecs";
    this.#region = options.region ?? "us-east-1";
    this.#log = options.log;
    this.#store = new EcsStore(options.stateDir, options.log);
    this.#retentionMs = options.stoppedTaskRetentionMs ?? DEFAULT_STOPPED_TASK_RETENTION_MS;
  }

  /** Loads task definitions and stopped tasks, re-adopts task containers, and starts watching them. */
  async start(): Promise<void> {
    for (const definition of await this.#store.loadDefinitions()) {
      const revisions = this.#families.get(definition.family) ?? [];
      revisions[definition.revision - 1] = definition;
      this.#families.set(definition.family, revisions);
    }
    const records = new Map((await this.#store.loadTasks()).map((t) => [t.taskArn, t]));
    const containers = await this.#driver.list({ [LABEL_OWNER]: this.#owner });
    for (const adopted of tasksFromContainers(containers, (r) => this.#arn(r))) {
      if (!adopted.ok) {
        this.#log.warn({ error: adopted.error }, "ECS task containers removed: not adoptable");
        for (const id of adopted.containerIds) await this.#driver.remove(id);
        continue;
      }
      const record = records.get(adopted.task.taskArn);
      records.delete(adopted.task.taskArn);
      if (!record) {
        this.#adopt(adopted.task);
        continue;
      }
      this.#tasks.set(record.taskArn, record);
      this.#remember(record);
      if (record.lastStatus === "STOPPED") {
        // Recorded as stopped, then the restart came before its containers were removed.
        for (const id of adopted.containerIds) await this.#driver.remove(id);
        continue;
      }
      // A stop was decided before the restart: finish it with the decided code and reason.
      const byName = new Map(adopted.task.containers.map((c) => [c.name, c.runtimeId]));
      for (const c of record.containers) {
        const runtimeId = byName.get(c.name);
        if (runtimeId) c.runtimeId = runtimeId;
      }
      this.#track(this.#stopOnce(record, () => this.#finishStop(record)));
    }
    for (const record of records.values()) {
      if (record.lastStatus !== "STOPPED") {
        // The containers vanished while the task was stopping: nothing is left to stop.
        record.lastStatus = "STOPPED";
        record.stoppedAt ??= nowSeconds();
        for (const c of record.containers) c.lastStatus = "STOPPED";
        await this.#store.saveTask(record);
      }
      this.#tasks.set(record.taskArn, record);
      this.#remember(record);
    }
    await this.#prune();
    this.#poll = setInterval(() => this.#tick(), 250);
    this.#poll.unref();
  }

  /** Stops watching; tasks keep running and are re-adopted by the next `start()`. */
  async stop(): Promise<void> {
    clearInterval(this.#poll);
    while (this.#work.size) await Promise.allSettled([...this.#work]);
  }

  /** Dispatches one call by its `X-Amz-Target` operation name. */
  async call(operation: string, body: unknown): Promise<unknown> {
    switch (operation) {
      case "RegisterTaskDefinition":
        return this.registerTaskDefinition(parseRequest(RegisterTaskDefinitionSchema, body));
      case "DescribeTaskDefinition":
        return {
          taskDefinition: this.#definition(
            parseRequest(DescribeTaskDefinitionSchema, body).taskDefinition,
          ),
        };
      case "RunTask":
        return this.runTask(parseRequest(RunTaskSchema, body));
      case "DescribeTasks":
        return this.describeTasks(parseRequest(DescribeTasksSchema, body));
      case "StopTask":
        return this.stopTask(parseRequest(StopTaskSchema, body));
      case "ListTasks":
        return this.listTasks(parseRequest(ListTasksSchema, body));
      default:
        throw new EcsError(
          "UnknownOperationException",
          `operation ${operation} is not supported by this endpoint; supported: RegisterTaskDefinition, DescribeTaskDefinition, RunTask, DescribeTasks, StopTask, ListTasks`,
        );
    }
  }

  async registerTaskDefinition(input: RegisterTaskDefinitionInput) {
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
    await this.#store.saveDefinitions([...this.#families.values()].flat());
    return { taskDefinition: definition };
  }

  /** Launches `count` tasks; a repeated `clientToken` in one cluster returns the first call's tasks, as ECS does. */
  runTask(input: RunTaskInput) {
    const definition = this.#definition(input.taskDefinition);
    const cluster = this.#clusterArn(input.cluster);
    const { clientToken, ...request } = input;
    const requestHash = canonicalHash({ ...request, cluster });
    if (clientToken !== undefined) {
      const earlier = this.#clientTokens.get(tokenKey(cluster, clientToken));
      if (earlier && earlier.at > nowSeconds() - CLIENT_TOKEN_TTL_S) {
        if (earlier.requestHash !== requestHash)
          throw new EcsError(
            "ConflictException",
            `clientToken ${clientToken} was already used in ${cluster} for a different RunTask request; use a new token for a new request`,
          );
        const tasks = earlier.taskArns
          .map((arn) => this.#tasks.get(arn))
          .filter((t): t is Task => t !== undefined);
        return { tasks: tasks.map((t) => taskView(t, { tags: true })), failures: [] };
      }
    }
    const tasks: Task[] = [];
    for (let i = 0; i < (input.count ?? 1); i++) {
      const taskId = randomUUID().replace(/-/g, "");
      const task: Task = {
        taskArn: `${this.#arn("task")}/${cluster.split("/")[1]}/${taskId}`,
        clusterArn: cluster,
        taskDefinitionArn: definition.taskDefinitionArn,
        ...(input.startedBy !== undefined ? { startedBy: input.startedBy } : {}),
        ...(input.group !== undefined ? { group: input.group } : {}),
        tags: input.tags ?? [],
        overrides: input.overrides ?? {},
        // Without a launch type ECS uses the cluster's capacity providers; here that is Fargate-like.
        launchType: input.launchType ?? "FARGATE",
        ...(input.networkConfiguration ? { networkConfiguration: input.networkConfiguration } : {}),
        ...(clientToken !== undefined ? { clientToken, requestHash } : {}),
        lastStatus: "PROVISIONING",
        desiredStatus: "RUNNING",
        createdAt: nowSeconds(),
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
    }
    // Remembered before the first await, so a concurrent retry with the same token launches nothing.
    for (const task of tasks) this.#remember(task);
    for (const task of tasks) this.#track(this.#launch(task, definition));
    return { tasks: tasks.map((t) => taskView(t, { tags: true })), failures: [] };
  }

  describeTasks(input: DescribeTasksInput) {
    const cluster = this.#clusterArn(input.cluster);
    const tags = input.include?.includes("TAGS") ?? false;
    const tasks: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of input.tasks) {
      const task = this.#find(ref, cluster);
      if (task) tasks.push(taskView(task, { tags }));
      else failures.push({ arn: ref, reason: "MISSING" });
    }
    return { tasks, failures };
  }

  async stopTask(input: StopTaskInput) {
    const task = this.#find(input.task, this.#clusterArn(input.cluster));
    if (!task)
      throw new EcsError(
        "InvalidParameterException",
        `The referenced task was not found: ${input.task}`,
      );
    await this.#stopTask(task, "UserInitiated", input.reason ?? "Task stopped by user");
    return { task: taskView(task, { tags: true }) };
  }

  /** Task ARNs oldest first, `maxResults` (default and at most 100) per page, continued by `nextToken`. */
  listTasks(input: ListTasksInput) {
    const cluster = this.#clusterArn(input.cluster);
    const desired = input.desiredStatus === "STOPPED" ? "STOPPED" : "RUNNING";
    const after = input.nextToken === undefined ? undefined : decodePageToken(input.nextToken);
    const matching = [...this.#tasks.values()]
      .filter((t) => t.clusterArn === cluster)
      .filter((t) => t.desiredStatus === desired)
      .filter((t) => input.startedBy === undefined || t.startedBy === input.startedBy)
      .filter((t) => input.launchType === undefined || t.launchType === input.launchType)
      .filter(
        (t) => input.family === undefined || t.taskDefinitionArn.includes(`/${input.family}:`),
      )
      .sort(byCreation)
      .filter((t) => after === undefined || byCreation(t, after) > 0);
    const page = matching.slice(0, input.maxResults ?? 100);
    const last = page.at(-1);
    return {
      taskArns: page.map((t) => t.taskArn),
      ...(last && matching.length > page.length
        ? { nextToken: encodePageToken({ createdAt: last.createdAt, taskArn: last.taskArn }) }
        : {}),
    };
  }

  #adopt(task: Task): void {
    this.#tasks.set(task.taskArn, task);
    this.#remember(task);
    this.#log.info({ task: task.taskArn, lastStatus: task.lastStatus }, "ECS task re-adopted");
    if (task.lastStatus !== "RUNNING")
      this.#track(
        this.#stopTask(
          task,
          "TaskFailedToStart",
          "the runtime restarted while the task was starting; run it again",
        ),
      );
  }

  async #launch(task: Task, definition: TaskDefinition): Promise<void> {
    try {
      for (const def of definition.containerDefinitions) {
        const override = task.overrides.containerOverrides?.find((o) => o.name === def.name);
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
        if (stopRequested(task)) return;
        const container = task.containers.find((c) => c.name === def.name)!;
        const id = await this.#driver.run(
          `ecs-${task.taskArn.split("/").pop()}-${def.name}`.replace(/[^a-zA-Z0-9_.-]/g, "-"),
          spec,
          { [LABEL_OWNER]: this.#owner, ...taskLabels(task, container) },
        );
        if (stopRequested(task)) {
          // Stopped while this container was being created: the stop did not see it.
          await this.#driver.remove(id);
          return;
        }
        container.runtimeId = id;
        container.lastStatus = "RUNNING";
      }
      task.lastStatus = "RUNNING";
      task.startedAt = nowSeconds();
    } catch (err) {
      this.#log.warn(
        { task: task.taskArn, error: (err as Error).message },
        "ECS task failed to start",
      );
      await this.#stopTask(
        task,
        "TaskFailedToStart",
        `CannotStartContainerError: ${(err as Error).message}`,
      );
    }
  }

  /** Decides a stop once (the first code and reason win), records it, then stops the containers. */
  #stopTask(task: Task, code: NonNullable<Task["stopCode"]>, reason: string): Promise<void> {
    const inFlight = this.#stopping.get(task.taskArn);
    if (inFlight) return inFlight;
    if (task.lastStatus === "STOPPED") return Promise.resolve();
    task.desiredStatus = "STOPPED";
    task.stopCode = code;
    task.stoppedReason = reason;
    task.stoppingAt = nowSeconds();
    return this.#stopOnce(task, async () => {
      await this.#store.saveTask(task);
      await this.#finishStop(task);
    });
  }

  #stopOnce(task: Task, work: () => Promise<void>): Promise<void> {
    const stop = work().finally(() => this.#stopping.delete(task.taskArn));
    this.#stopping.set(task.taskArn, stop);
    return stop;
  }

  async #finishStop(task: Task): Promise<void> {
    task.lastStatus = "DEPROVISIONING";
    for (const c of task.containers) {
      if (c.runtimeId) {
        await this.#driver.stop(c.runtimeId, c.stopTimeoutMs);
        const observed = await this.#driver.inspect(c.runtimeId);
        if (observed?.exitCode !== undefined && c.exitCode === undefined)
          c.exitCode = observed.exitCode;
      }
      c.lastStatus = "STOPPED";
    }
    task.lastStatus = "STOPPED";
    task.stoppedAt = nowSeconds();
    // Recorded before the containers go, so a restart in between cannot lose the exit codes.
    await this.#store.saveTask(task);
    for (const c of task.containers) if (c.runtimeId) await this.#driver.remove(c.runtimeId);
  }

  #tick(): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    this.#track(
      this.#refresh()
        .catch((err: Error) =>
          this.#log.warn({ error: err.message }, "ECS task refresh failed; retrying"),
        )
        .finally(() => {
          this.#refreshing = false;
        }),
    );
  }

  /** Notices containers that exited (an essential one stops its task, as ECS does) and forgets old stopped tasks. */
  async #refresh(): Promise<void> {
    for (const task of [...this.#tasks.values()]) {
      if (task.lastStatus !== "RUNNING") continue;
      for (const c of task.containers) {
        if (!c.runtimeId || c.lastStatus !== "RUNNING") continue;
        const observed = await this.#driver.inspect(c.runtimeId).catch(() => undefined);
        if (observed && observed.state !== "exited" && observed.state !== "dead") continue;
        c.lastStatus = "STOPPED";
        if (observed?.exitCode !== undefined) c.exitCode = observed.exitCode;
        if (c.essential && task.desiredStatus === "RUNNING")
          this.#track(
            this.#stopTask(task, "EssentialContainerExited", "Essential container in task exited"),
          );
      }
    }
    await this.#prune();
  }

  async #prune(): Promise<void> {
    const before = nowSeconds() - this.#retentionMs / 1000;
    for (const task of [...this.#tasks.values()]) {
      if (task.lastStatus !== "STOPPED" || (task.stoppedAt ?? 0) >= before) continue;
      this.#tasks.delete(task.taskArn);
      await this.#store.removeTask(task.taskArn);
    }
    const tokensBefore = nowSeconds() - CLIENT_TOKEN_TTL_S;
    for (const [key, record] of this.#clientTokens) {
      if (record.at < tokensBefore || record.taskArns.every((arn) => !this.#tasks.has(arn)))
        this.#clientTokens.delete(key);
    }
  }

  #remember(task: Task): void {
    if (task.clientToken === undefined || task.requestHash === undefined) return;
    const key = tokenKey(task.clusterArn, task.clientToken);
    const record = this.#clientTokens.get(key) ?? {
      requestHash: task.requestHash,
      taskArns: [],
      at: task.createdAt,
    };
    if (!record.taskArns.includes(task.taskArn)) record.taskArns.push(task.taskArn);
    this.#clientTokens.set(key, record);
  }

  #track(work: Promise<unknown>): void {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  #definition(ref: string): TaskDefinition {
    const name = ref.includes("task-definition/") ? ref.split("task-definition/")[1]! : ref;
    const [family, revision] = name.split(":");
    const revisions = (this.#families.get(family!) ?? []).filter(Boolean);
    const found = revision
      ? revisions.find((d) => d.revision === Number(revision))
      : revisions.at(-1);
    if (!found) throw new EcsError("ClientException", `Unable to describe task definition: ${ref}`);
    return found;
  }

  #find(ref: string, cluster: string): Task | undefined {
    const task =
      this.#tasks.get(ref) ?? [...this.#tasks.values()].find((t) => t.taskArn.endsWith(`/${ref}`));
    return task && (ref.startsWith("arn:") || task.clusterArn === cluster) ? task : undefined;
  }

  #clusterArn(cluster: string | undefined): string {
    if (cluster?.startsWith("arn:")) return cluster;
    return `${this.#arn("cluster")}/${cluster ?? "default"}`;
  }

  #arn(resource: string): string {
    return `arn:aws:ecs:${this.#region}:000000000000:${resource}`;
  }
}

/** A stop can be decided while a launch awaits the engine. */
const stopRequested = (task: Task): boolean => task.desiredStatus === "STOPPED";

const tokenKey = (cluster: string, token: string) => `${cluster}\n${token}`;

function byCreation(
  a: Pick<Task, "createdAt" | "taskArn">,
  b: Pick<Task, "createdAt" | "taskArn">,
) {
  return a.createdAt - b.createdAt || (a.taskArn < b.taskArn ? -1 : a.taskArn > b.taskArn ? 1 : 0);
}
