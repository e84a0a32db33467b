import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { formatIssues, type Logger } from "@org/reconcile-core";
import { writeFileAtomic } from "@org/reconcile-core/internal";
import { z } from "zod";
import { type TaskDefinition, TaskDefinitionSchema } from "./ecs-api.js";
import { type Task, TaskSchema } from "./task.js";

const DefinitionsFileSchema = z.object({ taskDefinitions: z.array(TaskDefinitionSchema) });

/**
 * What the ECS endpoint cannot read back from container labels, under `<stateDir>/ecs`:
 * registered task definitions, and each stop decision (written before the containers are
 * stopped, so a restart finishes the stop with the right code). Without a directory, memory.
 */
export class EcsStore {
  readonly #dir: string | undefined;
  readonly #log: Logger;
  #definitionsWrite: Promise<void> = Promise.resolve();

  constructor(stateDir: string | undefined, log: Logger) {
    this.#dir = stateDir === undefined ? undefined : join(stateDir, "ecs");
    this.#log = log;
  }

  get #definitionsFile(): string {
    return join(this.#dir!, "task-definitions.json");
  }
  get #tasksDir(): string {
    return join(this.#dir!, "tasks");
  }

  /** The registered task definitions; a corrupt file stops the start, naming the file. */
  async loadDefinitions(): Promise<TaskDefinition[]> {
    if (!this.#dir) return [];
    let text: string;
    try {
      text = await readFile(this.#definitionsFile, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    let parsed: ReturnType<typeof DefinitionsFileSchema.safeParse>;
    try {
      parsed = DefinitionsFileSchema.safeParse(JSON.parse(text));
    } catch {
      throw new Error(
        `${this.#definitionsFile} is not JSON; restore it from a backup or remove it (registered task definitions would be lost)`,
      );
    }
    if (!parsed.success)
      throw new Error(
        `${this.#definitionsFile} is not a task definition store: ${formatIssues(parsed.error)}; restore it from a backup or remove it`,
      );
    return parsed.data.taskDefinitions;
  }

  /** Replaces the stored definitions; writes are queued so the last snapshot taken is the last written. */
  saveDefinitions(definitions: TaskDefinition[]): Promise<void> {
    if (!this.#dir) return Promise.resolve();
    const content = `${JSON.stringify({ taskDefinitions: definitions }, null, 2)}\n`;
    const write = this.#definitionsWrite.then(async () => {
      await mkdir(this.#dir!, { recursive: true });
      await writeFileAtomic(this.#definitionsFile, content);
    });
    this.#definitionsWrite = write.catch(() => undefined);
    return write;
  }

  /** Stopping and stopped tasks; an unreadable record is skipped with a warning (it is only history). */
  async loadTasks(): Promise<Task[]> {
    if (!this.#dir) return [];
    let files: string[];
    try {
      files = await readdir(this.#tasksDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const tasks: Task[] = [];
    for (const file of files.filter((f) => f.endsWith(".json"))) {
      const path = join(this.#tasksDir, file);
      try {
        const parsed = TaskSchema.safeParse(JSON.parse(await readFile(path, "utf8")));
        if (parsed.success) tasks.push(parsed.data);
        else
          this.#log.warn(
            { path, error: formatIssues(parsed.error) },
            "ECS task record ignored: not a task",
          );
      } catch (err) {
        this.#log.warn({ path, error: (err as Error).message }, "ECS task record ignored");
      }
    }
    return tasks;
  }

  async saveTask(task: Task): Promise<void> {
    if (!this.#dir) return;
    await mkdir(this.#tasksDir, { recursive: true });
    await writeFileAtomic(this.#taskFile(task.taskArn), `${JSON.stringify(task)}\n`);
  }

  async removeTask(taskArn: string): Promise<void> {
    if (!this.#dir) return;
    await rm(this.#taskFile(taskArn), { force: true });
  }

  #taskFile(taskArn: string): string {
    // A task ID is 32 hex characters, unique per region and account: a safe file name.
    return join(
      this.#tasksDir,
      `${taskArn
        .split("/")
        .pop()!
        .replace(/[^a-zA-Z0-9_-]/g, "-")}.json`,
    );
  }
}
