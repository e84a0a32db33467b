import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  DurationSchema,
  defineKind,
  durationMs,
  type Logger,
  type ReconcileOutcome,
  silentLogger,
  TerminalError,
} from "@org/reconcile-core";
import { writeFileAtomic } from "@org/reconcile-core/internal";
import { childEnvironment } from "@org/reconcile-core/internal";
import { z } from "zod";

// Loaded at the first script: `@org/workloads` builds its container spec schemas at import
// (about 1 MiB of heap), which an agent that runs no script never needs.
const supervisor = () => import("@org/workloads");

export const ScriptSpecSchema = z
  .object({
    content: z
      .string()
      .min(1)
      .max(64 * 1024, "scripts are at most 64 KiB"),
    interpreter: z.array(z.string().min(1)).min(1).default(["/bin/sh"]),
    env: z.record(z.string(), z.string()).default({}),
    timeout: DurationSchema.default("5m"),
    runOn: z
      .enum(["change", "generation"])
      .default("change")
      .describe("change: when the content changes; generation: once per manifest generation"),
  })
  .strict();

export type ScriptSpec = z.infer<typeof ScriptSpecSchema>;

/** What the agent keeps of one script's latest execution, in `<state>/scripts/<id>/record.json`. */
const ExecutionRecordSchema = z.object({
  key: z.string(),
  status: z.enum(["running", "succeeded", "failed"]),
  startedAt: z.iso.datetime(),
  /** The spec's timeout when it started; absent in records of older agents. */
  timeout: DurationSchema.optional(),
  /** The wrapper's pid (its process group) and kernel start time, so a reused pid is not taken for it. */
  pid: z.number().int().positive().optional(),
  startTicks: z.string().optional(),
  finishedAt: z.iso.datetime().optional(),
  exitCode: z.number().int().optional(),
  durationMs: z.number().optional(),
  error: z.string().optional(),
});

type ExecutionRecord = z.infer<typeof ExecutionRecordSchema>;

/** What `observe` saw of a script's latest execution. */
export interface ObservedScript {
  record: ExecutionRecord;
  /** The wrapper's pid: from the record, or from its pid file when the agent died before recording it. */
  pid?: number;
  /** The wrapper, and so the script, is still running. */
  running: boolean;
  /** The script's exit code, once the wrapper wrote it. */
  exitCode?: number;
}

export const OUTPUT_IN_STATUS = 4096;
/** How often a running script is looked at: a tenth of its run time so far, within these bounds. */
const POLL_MIN_MS = 250;
const POLL_MAX_MS = 5_000;

/**
 * The `Script` kind, the audited escape hatch. Refused unless the agent allows scripts. A
 * script runs when its content (or, with `runOn: generation`, the generation) asks for it,
 * never on a resync. It runs detached under a small shell wrapper that records its pid and,
 * when it ends, its exit code, in the state directory. `reconcile` starts it and returns at
 * once (progressing, requeued); later reconciles see it running, past its timeout (and kill
 * it), or ended, and report that. So no reconcile waits on a script, and an agent killed
 * mid-script finds, on restart, that it is still running or completed, and never starts it
 * twice (if the host restarted and it was interrupted, it runs again). Exit code, duration
 * and capped output go into the status.
 */
export function scriptKind(options: { stateDir: string; allowed: boolean; log?: Logger }) {
  const log = options.log ?? silentLogger;
  /** Executions this agent saw running, by directory: one that vanishes without an exit code was killed. */
  const seenRunning = new Map<string, number>();
  const dirOf = (id: string) =>
    join(options.stateDir, "scripts", id.replace(/[^A-Za-z0-9._-]/g, "_"));
  const keyOf = (spec: ScriptSpec, generation: number) => {
    const hash = createHash("sha256")
      .update(JSON.stringify([spec.interpreter, spec.env, spec.content]))
      .digest("hex");
    return spec.runOn === "generation" ? `${hash}@${generation}` : hash;
  };
  const readRecord = async (dir: string): Promise<ExecutionRecord | undefined> => {
    const path = join(dir, "record.json");
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = ExecutionRecordSchema.safeParse(json);
    if (!parsed.success)
      throw new Error(
        `${path} is not a script execution record; remove it (the script then runs again) or restore it`,
      );
    return parsed.data;
  };
  const writeRecord = (dir: string, record: ExecutionRecord) =>
    writeFileAtomic(join(dir, "record.json"), JSON.stringify(record));
  const head = async (path: string) =>
    (await readFile(path).catch(() => Buffer.alloc(0)))
      .subarray(0, OUTPUT_IN_STATUS)
      .toString("utf8");
  const elapsedMs = (record: ExecutionRecord) => Date.now() - Date.parse(record.startedAt);
  /** True while `pid` runs and is the process that was started (not a later one with its pid). */
  const isRunning = async (pid: number, startTicks?: string) =>
    (await supervisor()).processAlive(pid) &&
    (startTicks === undefined ||
      (await (await supervisor()).processStartTicks(pid)) === startTicks);

  async function observe(id: string): Promise<ObservedScript | undefined> {
    const dir = dirOf(id);
    const record = await readRecord(dir);
    if (!record) return undefined;
    if (record.status !== "running") return { record, running: false };
    const run = join(dir, "run");
    const first = await (await supervisor()).supervisedState(run);
    const pid = record.pid ?? first.pid;
    const running = pid !== undefined && (await isRunning(pid, record.startTicks));
    // The wrapper writes the exit code before it exits: read again once it is gone, so a
    // script that ended between the two reads is not taken for an interrupted one.
    const exitCode =
      first.exitCode ??
      (running ? undefined : (await (await supervisor()).supervisedState(run)).exitCode);
    return {
      record,
      running,
      ...(pid === undefined ? {} : { pid }),
      ...(exitCode === undefined ? {} : { exitCode }),
    };
  }

  async function finish(
    dir: string,
    record: ExecutionRecord,
    end: { exitCode?: number; error?: string },
  ): Promise<ExecutionRecord> {
    seenRunning.delete(dir);
    const finishedAt = new Date();
    const done: ExecutionRecord = {
      ...record,
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - Date.parse(record.startedAt),
      ...(end.exitCode === undefined ? {} : { exitCode: end.exitCode }),
      status: end.exitCode === 0 && end.error === undefined ? "succeeded" : "failed",
      ...(end.error === undefined ? {} : { error: end.error }),
    };
    await writeRecord(dir, done);
    return done;
  }

  /**
   * The finished record of an execution that ended or outlived `timeout` (it is killed);
   * "running" while it runs; "interrupted" when it vanished while no agent watched it (a host
   * restart), so it should run again.
   */
  async function settle(
    id: string,
    dir: string,
    observed: ObservedScript,
    timeout: string,
  ): Promise<ExecutionRecord | "running" | "interrupted"> {
    const { record, pid } = observed;
    let done: ExecutionRecord;
    if (observed.exitCode !== undefined) {
      done = await finish(dir, record, { exitCode: observed.exitCode });
    } else if (!observed.running || pid === undefined) {
      // Seen running by this agent, then gone without an exit code: killed, not a restart.
      if (pid === undefined || seenRunning.get(dir) !== pid) return "interrupted";
      done = await finish(dir, record, { error: "was killed before it finished (no exit code)" });
    } else if (elapsedMs(record) >= durationMs(timeout)) {
      await (await supervisor()).stopProcessGroup(pid, 0);
      done = await finish(dir, record, { error: `timed out after ${timeout}` });
    } else {
      seenRunning.set(dir, pid);
      return "running";
    }
    log.info(
      { resource: id, exitCode: done.exitCode, durationMs: done.durationMs, error: done.error },
      "script finished",
    );
    return done;
  }

  /** Looked at again soon after it started, less often as it keeps running, and right at its timeout. */
  function pollMs(record: ExecutionRecord, timeout: string): number {
    const elapsed = elapsedMs(record);
    const poll = Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, Math.ceil(elapsed / 10)));
    return Math.max(0, Math.min(poll, durationMs(timeout) - elapsed));
  }

  /** Still running (or, `waiting`, an earlier version still is): looked at again later. */
  function inProgress(
    record: ExecutionRecord,
    pid: number | undefined,
    timeout: string,
    waiting: boolean,
  ): ReconcileOutcome {
    const execution = { pid, startedAt: record.startedAt };
    return {
      progressing: true,
      details: waiting
        ? { state: "waiting for the previous execution to end", previous: execution }
        : { state: "running", ...execution },
      requeueAfterMs: pollMs(record, timeout),
    };
  }

  async function outcome(dir: string, record: ExecutionRecord): Promise<ReconcileOutcome> {
    const details = {
      exitCode: record.exitCode,
      durationMs: record.durationMs,
      startedAt: record.startedAt,
      stdout: await head(join(dir, "stdout")),
      stderr: await head(join(dir, "stderr")),
    };
    if (record.status === "succeeded") return { changed: false, details };
    throw new TerminalError(
      `script ${record.error ?? `exited with code ${record.exitCode}`}${details.stderr ? `: ${details.stderr.trim().slice(-500)}` : ""}`,
    );
  }

  async function start(
    id: string,
    dir: string,
    spec: ScriptSpec,
    key: string,
    generation: number,
  ): Promise<ReconcileOutcome> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "script"), spec.content, { mode: 0o700 });
    const record: ExecutionRecord = {
      key,
      status: "running",
      startedAt: new Date().toISOString(),
      timeout: spec.timeout,
    };
    // Recorded before the start: a crash from here on finds the record and never runs it twice.
    await writeRecord(dir, record);
    log.info({ resource: id, sha256: key.slice(0, 12), generation }, "running script");
    let pid: number;
    try {
      pid = await (await supervisor()).spawnSupervised([...spec.interpreter, join(dir, "script")], {
        base: join(dir, "run"),
        cwd: dir,
        env: childEnvironment(spec.env),
        stdout: join(dir, "stdout"),
        stderr: join(dir, "stderr"),
      });
    } catch (err) {
      return outcome(dir, await finish(dir, record, { error: (err as Error).message }));
    }
    const startTicks = await (await supervisor()).processStartTicks(pid);
    const started = { ...record, pid, ...(startTicks === undefined ? {} : { startTicks }) };
    await writeRecord(dir, started);
    seenRunning.set(dir, pid);
    return inProgress(started, pid, spec.timeout, false);
  }

  return defineKind({
    name: "Script",
    specSchema: ScriptSpecSchema,
    reconciler: {
      observe,

      async reconcile({ id, spec }, observed, ctx) {
        if (!options.allowed) throw new TerminalError("scripts are disabled");
        const dir = dirOf(id);
        const key = keyOf(spec, ctx.generation);
        let record = observed?.record;
        if (observed && record?.status === "running") {
          // An execution of another version (or generation) runs to its own end first: two
          // versions of one script never run at once.
          const current = record.key === key;
          const timeout = current ? spec.timeout : (record.timeout ?? spec.timeout);
          const settled = await settle(id, dir, observed, timeout);
          if (settled === "running") return inProgress(record, observed.pid, timeout, !current);
          if (settled === "interrupted" && current)
            log.warn(
              { resource: id },
              "script was interrupted before it finished (host restart?): running it again",
            );
          record = settled === "interrupted" ? undefined : settled;
        }
        if (record?.key === key) return outcome(dir, record);
        // A stopping agent would not look after a script it starts now.
        ctx.signal.throwIfAborted();
        return start(id, dir, spec, key, ctx.generation);
      },

      async delete(id) {
        // Nothing would enforce its timeout or record its end any more: stop it with its resource.
        const observed = await observe(id).catch(() => undefined);
        if (observed?.running && observed.pid !== undefined)
          await (await supervisor()).stopProcessGroup(observed.pid, 0);
        const dir = dirOf(id);
        seenRunning.delete(dir);
        await rm(dir, { recursive: true, force: true });
      },
    },
  });
}
