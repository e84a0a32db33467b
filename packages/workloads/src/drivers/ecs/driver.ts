import type { ECSClient, Task } from "@aws-sdk/client-ecs";
import { TerminalError } from "@org/reconcile-core";
import {
  type CreateRequest,
  LABEL_OWNER,
  type Labels,
  type ObservedWorkload,
  type WorkloadDriver,
} from "../../driver.js";
import { runTaskInput } from "./launch.js";
import { observeTask } from "./observe.js";
import { type EcsSpec, EcsSpecSchema } from "./spec.js";

type Sdk = typeof import("@aws-sdk/client-ecs");

export interface EcsDriverOptions {
  /** The cluster every task runs in and is listed from (default: "default"). */
  cluster?: string;
  /** Default: the SDK's (AWS_REGION, the shared config). */
  region?: string;
  /** An ECS-compatible endpoint instead of AWS's, such as container-runtime's. */
  endpoint?: string;
  /** Default: the SDK's credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per API call, the SDK's own retry (default 3). */
  maxAttempts?: number;
}

/** Errors that a retry cannot fix: the request or the account needs changing. */
const TERMINAL = new Set([
  "AccessDeniedException",
  "ClientException",
  "ClusterNotFoundException",
  "ConflictException",
  "InvalidParameterException",
  "PlatformTaskDefinitionIncompatibilityException",
  "PlatformUnknownException",
  "UnsupportedFeatureException",
]);

/**
 * Workloads as Amazon ECS tasks through `@aws-sdk/client-ecs`, loaded on first use: RunTask
 * (idempotent by `clientToken`), DescribeTasks, ListTasks by `startedBy`, StopTask. The owner
 * label is the task's `startedBy`, the other labels its tags. ECS keeps a stopped task visible
 * for about an hour; `remove` hides it from this driver. ECS cannot restart a task in place,
 * probe it from outside, or return its output (that is in the log driver's destination).
 */
export class EcsDriver implements WorkloadDriver<EcsSpec> {
  readonly name = "ecs";
  readonly specSchema = EcsSpecSchema;
  readonly cluster: string;
  readonly #options: EcsDriverOptions;
  #client?: Promise<{ sdk: Sdk; client: ECSClient }>;
  /** Essential container names of each task definition ARN, in definition order (definitions are immutable). */
  readonly #essential = new Map<string, Promise<string[]>>();
  readonly #removed = new Set<string>();

  constructor(options: EcsDriverOptions = {}) {
    this.#options = options;
    this.cluster = options.cluster ?? "default";
  }

  /** Checks that the task definition exists and has the container the overrides name. */
  async prepare(spec: EcsSpec): Promise<void> {
    await this.#container(spec);
  }

  async create(request: CreateRequest<EcsSpec>): Promise<ObservedWorkload> {
    const { sdk, client } = await this.#sdk();
    const container = await this.#container(request.spec);
    const input = runTaskInput(request, this.cluster, container);
    const out = await this.#send("RunTask", request.spec.taskDefinition, () =>
      client.send(new sdk.RunTaskCommand(input)),
    );
    const task = out.tasks?.[0];
    if (!task) {
      const failure = out.failures?.[0];
      throw new Error(
        `ecs RunTask ${request.spec.taskDefinition} in cluster ${this.cluster} launched no task: ${failure?.reason ?? "no reason given"}${failure?.detail ? ` (${failure.detail})` : ""}; the controller will retry`,
      );
    }
    return this.#observe(task);
  }

  async inspect(id: string): Promise<ObservedWorkload | undefined> {
    if (this.#removed.has(id)) return undefined;
    const [task] = await this.#describe([id]);
    return task ? this.#observe(task) : undefined;
  }

  async list(labels: Labels): Promise<ObservedWorkload[]> {
    const owner = labels[LABEL_OWNER];
    if (owner === undefined)
      throw new TypeError(
        `ecs list needs the owner label ${LABEL_OWNER} (it is RunTask startedBy)`,
      );
    const { sdk, client } = await this.#sdk();
    const arns: string[] = [];
    for (const desiredStatus of ["RUNNING", "STOPPED"] as const) {
      let nextToken: string | undefined;
      do {
        const page = await this.#send("ListTasks", owner, () =>
          client.send(
            new sdk.ListTasksCommand({
              cluster: this.cluster,
              startedBy: owner,
              desiredStatus,
              ...(nextToken ? { nextToken } : {}),
            }),
          ),
        );
        arns.push(...(page.taskArns ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
    }
    const live = [...new Set(arns)].filter((arn) => !this.#removed.has(arn));
    const observed: ObservedWorkload[] = [];
    for (let i = 0; i < live.length; i += 100)
      for (const task of await this.#describe(live.slice(i, i + 100)))
        observed.push(await this.#observe(task));
    return observed.filter((w) => Object.entries(labels).every(([k, v]) => w.labels[k] === v));
  }

  /** Asks ECS to stop the task; the grace period is the task definition's `stopTimeout`, not `graceMs`. */
  async stop(id: string, _graceMs: number): Promise<void> {
    const { sdk, client } = await this.#sdk();
    try {
      await this.#send("StopTask", id, () =>
        client.send(
          new sdk.StopTaskCommand({
            cluster: this.cluster,
            task: id,
            reason: "stopped by its workload's owner",
          }),
        ),
      );
    } catch (err) {
      if (isMissingTask(err)) return;
      throw err;
    }
  }

  /** Stops it and forgets it; ECS itself forgets a stopped task about an hour later. */
  async remove(id: string): Promise<void> {
    const task = await this.inspect(id);
    if (task && task.state !== "exited") await this.stop(id, 0);
    this.#removed.add(id);
  }

  async logs(id: string): Promise<{ stdout: string; stderr: string }> {
    throw new TerminalError(
      `ecs task ${id}: ECS keeps no task output; read it where the task definition's log configuration sends it (CloudWatch Logs with awslogs)`,
    );
  }

  /** Releases the SDK client's sockets. */
  async close(): Promise<void> {
    if (this.#client) (await this.#client).client.destroy();
    this.#client = undefined;
  }

  async #describe(ids: string[]): Promise<Task[]> {
    const { sdk, client } = await this.#sdk();
    const out = await this.#send("DescribeTasks", ids.join(", "), () =>
      client.send(
        new sdk.DescribeTasksCommand({ cluster: this.cluster, tasks: ids, include: ["TAGS"] }),
      ),
    );
    const failed = (out.failures ?? []).filter((f) => f.reason !== "MISSING");
    if (failed.length)
      throw new Error(
        `ecs DescribeTasks in cluster ${this.cluster}: ${failed.map((f) => `${f.arn}: ${f.reason}${f.detail ? ` (${f.detail})` : ""}`).join("; ")}`,
      );
    return out.tasks ?? [];
  }

  async #observe(task: Task): Promise<ObservedWorkload> {
    const essential = task.taskDefinitionArn ? await this.#essentials(task.taskDefinitionArn) : [];
    return observeTask(task, essential);
  }

  /** The container the spec's overrides apply to: the named one, else the first essential one. */
  async #container(spec: EcsSpec): Promise<string> {
    const { sdk, client } = await this.#sdk();
    const out = await this.#send("DescribeTaskDefinition", spec.taskDefinition, () =>
      client.send(new sdk.DescribeTaskDefinitionCommand({ taskDefinition: spec.taskDefinition })),
    );
    const names = (out.taskDefinition?.containerDefinitions ?? []).map((c) => c.name ?? "");
    if (spec.container !== undefined && !names.includes(spec.container))
      throw new TerminalError(
        `ecs task definition ${spec.taskDefinition} has no container '${spec.container}' (it has ${names.join(", ") || "none"}); fix the spec's container`,
      );
    const essential = essentialNames(out.taskDefinition?.containerDefinitions ?? []);
    if (out.taskDefinition?.taskDefinitionArn)
      this.#essential.set(out.taskDefinition.taskDefinitionArn, Promise.resolve(essential));
    return spec.container ?? essential[0] ?? names[0] ?? "";
  }

  #essentials(taskDefinitionArn: string): Promise<string[]> {
    let found = this.#essential.get(taskDefinitionArn);
    if (!found) {
      found = (async () => {
        const { sdk, client } = await this.#sdk();
        const out = await this.#send("DescribeTaskDefinition", taskDefinitionArn, () =>
          client.send(new sdk.DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn })),
        );
        return essentialNames(out.taskDefinition?.containerDefinitions ?? []);
      })();
      // A failed lookup is not cached: the next observation asks again.
      found.catch(() => this.#essential.delete(taskDefinitionArn));
      this.#essential.set(taskDefinitionArn, found);
    }
    return found;
  }

  #sdk(): Promise<{ sdk: Sdk; client: ECSClient }> {
    this.#client ??= import("@aws-sdk/client-ecs").then((sdk) => ({
      sdk,
      client: new sdk.ECSClient({
        ...(this.#options.region ? { region: this.#options.region } : {}),
        ...(this.#options.endpoint ? { endpoint: this.#options.endpoint } : {}),
        ...(this.#options.credentials ? { credentials: this.#options.credentials } : {}),
        ...(this.#options.maxAttempts ? { maxAttempts: this.#options.maxAttempts } : {}),
      }),
    }));
    return this.#client;
  }

  /** One API call; an error names the operation, its subject and the cluster, and is terminal when a retry cannot help. */
  async #send<T>(operation: string, subject: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const e = err as Error;
      const message = `ecs ${operation} ${subject} in cluster ${this.cluster}: ${e.name}: ${e.message}`;
      throw Object.assign(TERMINAL.has(e.name) ? new TerminalError(message) : new Error(message), {
        cause: err,
        awsErrorName: e.name,
      });
    }
  }
}

function essentialNames(definitions: Array<{ name?: string; essential?: boolean }>): string[] {
  // ECS's default for `essential` is true.
  return definitions.filter((c) => c.essential !== false && c.name).map((c) => c.name!);
}

function isMissingTask(err: unknown): boolean {
  const e = err as { awsErrorName?: string; message?: string };
  return (
    e.awsErrorName === "InvalidParameterException" && /task was not found/i.test(e.message ?? "")
  );
}
