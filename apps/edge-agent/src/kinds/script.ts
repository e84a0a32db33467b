import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  childEnvironment,
  DurationSchema,
  defineKind,
  durationMs,
  type Logger,
  processAlive,
  silentLogger,
  spawnSupervised,
  stopProcessGroup,
  supervisedState,
  TerminalError,
} from "@org/reconcile-core";
import { z } from "zod";

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
interface ExecutionRecord {
  key: string;
  status: "running" | "succeeded" | "failed";
  startedAt: string;
  finishedAt?: string;
  exitCode?: number;
  durationMs?: number;
  error?: string;
}

export const OUTPUT_IN_STATUS = 4096;

/**
 * The `Script` kind, the audited escape hatch. Refused unless the agent allows scripts. A
 * script runs when its content (or, with `runOn: generation`, the generation) asks for it,
 * never on a resync. It runs detached under a small shell wrapper that records its pid and,
 * when it ends, its exit code, in the state directory; so an agent killed mid-script finds, on
 * restart, that the script completed and does not run it again (or, if it was interrupted,
 * runs it again). Exit code, duration and capped output go into the status.
 */
export function scriptKind(options: { stateDir: string; allowed: boolean; log?: Logger }) {
  const log = options.log ?? silentLogger;
  const dirOf = (id: string) =>
    join(options.stateDir, "scripts", id.replace(/[^A-Za-z0-9._-]/g, "_"));
  const keyOf = (spec: ScriptSpec, generation: number) => {
    const hash = createHash("sha256")
      .update(JSON.stringify([spec.interpreter, spec.env, spec.content]))
      .digest("hex");
    return spec.runOn === "generation" ? `${hash}@${generation}` : hash;
  };
  const readRecord = async (dir: string) =>
    JSON.parse(
      await readFile(join(dir, "record.json"), "utf8").catch(() => "null"),
    ) as ExecutionRecord | null;
  const writeRecord = async (dir: string, record: ExecutionRecord) => {
    await writeFile(join(dir, "record.json.tmp"), JSON.stringify(record));
    await rename(join(dir, "record.json.tmp"), join(dir, "record.json"));
  };
  const head = async (path: string) =>
    (await readFile(path).catch(() => Buffer.alloc(0)))
      .subarray(0, OUTPUT_IN_STATUS)
      .toString("utf8");

  /** Waits until the script's wrapper wrote its exit code, or its process is gone, up to `timeoutMs`. */
  async function waitFor(
    dir: string,
    timeoutMs: number,
    startedPid?: number,
  ): Promise<{ exitCode?: number; timedOut: boolean }> {
    const end = Date.now() + timeoutMs;
    const run = join(dir, "run");
    for (;;) {
      const state = await supervisedState(run);
      const { exitCode } = state;
      // Just started, the wrapper may not have written its pid file yet: use the pid we know.
      const pid = state.pid ?? startedPid;
      if (exitCode !== undefined) return { exitCode, timedOut: false };
      if (pid === undefined || !processAlive(pid)) {
        // Gone without an exit code: give a wrapper that just finished a moment to write it.
        await new Promise((r) => setTimeout(r, 50));
        const late = await supervisedState(run);
        return late.exitCode !== undefined
          ? { exitCode: late.exitCode, timedOut: false }
          : { timedOut: false };
      }
      if (Date.now() > end) {
        await stopProcessGroup(pid, 0);
        return { timedOut: true };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function finish(
    dir: string,
    record: ExecutionRecord,
    outcome: { exitCode?: number; timedOut: boolean },
    timeout: string,
  ) {
    const finishedAt = new Date();
    const done: ExecutionRecord = {
      ...record,
      finishedAt: finishedAt.toISOString(),
      durationMs: finishedAt.getTime() - Date.parse(record.startedAt),
      ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
      status: outcome.exitCode === 0 ? "succeeded" : "failed",
      ...(outcome.timedOut
        ? { error: `timed out after ${timeout}` }
        : outcome.exitCode === undefined
          ? { error: "interrupted" }
          : {}),
    };
    await writeRecord(dir, done);
    return done;
  }

  async function outcome(dir: string, record: ExecutionRecord) {
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

  return defineKind({
    name: "Script",
    spec: ScriptSpecSchema,
    reconciler: {
      observe: async (id) => (await readRecord(dirOf(id))) ?? undefined,

      async reconcile({ id, spec }, observed, ctx) {
        if (!options.allowed) throw new TerminalError("scripts are disabled");
        const dir = dirOf(id);
        const key = keyOf(spec, ctx.generation);
        const timeoutMs = durationMs(spec.timeout);
        if (observed && observed.key === key) {
          if (observed.status !== "running") return outcome(dir, observed);
          // Started by an earlier run of the agent: adopt it, wait for it, never start it twice.
          const elapsed = Date.now() - Date.parse(observed.startedAt);
          const result = await waitFor(dir, Math.max(0, timeoutMs - elapsed));
          if (result.exitCode !== undefined || result.timedOut)
            return outcome(dir, await finish(dir, observed, result, spec.timeout));
          log.warn(
            { resource: id },
            "script was interrupted before it finished (agent or host restart): running it again",
          );
        }

        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, "script"), spec.content, { mode: 0o700 });
        const record: ExecutionRecord = {
          key,
          status: "running",
          startedAt: new Date().toISOString(),
        };
        // Recorded before the start: a crash from here on finds the record and never runs it twice.
        await writeRecord(dir, record);
        log.info(
          { resource: id, sha256: key.slice(0, 12), generation: ctx.generation },
          "running script",
        );
        let pid: number;
        try {
          pid = await spawnSupervised([...spec.interpreter, join(dir, "script")], {
            base: join(dir, "run"),
            cwd: dir,
            env: childEnvironment(spec.env),
            stdout: join(dir, "stdout"),
            stderr: join(dir, "stderr"),
          });
        } catch (err) {
          return outcome(
            dir,
            await finish(
              dir,
              { ...record, error: (err as Error).message },
              { timedOut: false },
              spec.timeout,
            ),
          );
        }
        const result = await waitFor(dir, timeoutMs, pid);
        const done = await finish(dir, record, result, spec.timeout);
        log.info(
          { resource: id, exitCode: done.exitCode, durationMs: done.durationMs },
          "script finished",
        );
        return outcome(dir, done);
      },

      async delete(id) {
        await rm(dirOf(id), { recursive: true, force: true });
      },
    },
  });
}
