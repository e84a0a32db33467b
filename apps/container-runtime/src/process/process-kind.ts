import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { commandArgv, HealthCheckSchema, RestartPolicySchema } from "@org/docker";
import {
  backoffDelay,
  canonicalHash,
  childEnvironment,
  DurationSchema,
  defineKind,
  durationMs,
  processAlive,
  processStartTicks,
  RetryAfterError,
  spawnSupervised,
  stopProcessGroup,
  supervisedState,
} from "@org/reconcile-core";
import { z } from "zod";
import { atomicWrite } from "../agent-store.js";

/** A supervised local process: the container spec's command, environment, restart policy and health check, without an image. */
export const ProcessSpecSchema = z
  .object({
    command: z.array(z.string()).min(1),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
    restartPolicy: RestartPolicySchema.default("always"),
    healthCheck: HealthCheckSchema.optional(),
    stopGracePeriod: DurationSchema.default("10s"),
  })
  .loose();

export type ProcessSpec = z.infer<typeof ProcessSpecSchema>;

interface ProcessRecord {
  pid: number;
  hash: string;
  startedAt: number;
  /** Kernel start time of the pid, so a reused pid is not mistaken for ours. */
  bootTicks: string;
}

export interface ObservedProcess extends ProcessRecord {
  running: boolean;
  /** When it is not running: its exit code (137 when it left none: killed). */
  exitCode?: number;
  finishedAt?: number;
}

/**
 * The process strategy, for machines without Docker: each resource is a local process started
 * detached under a wrapper that records its pid and exit code (`spawnSupervised`), its stdout
 * and stderr appended to `<dir>/<id>.out` and `.err`, its spec hash in `<dir>/<id>.json`; so a
 * restarted supervisor adopts it (the pid's kernel start time guards against pid reuse) and
 * knows how it ended. Restarts follow the policy with a crash-loop backoff; health checks
 * (http, tcp, command, file) run on the host.
 */
export function processKind(options: { dir: string; minRunMs?: number }) {
  const dir = options.dir;
  const minRunMs = options.minRunMs ?? 10_000;
  const crash = new Map<
    string,
    { crashes: number; waitedFor?: number; healthFailures: number; lastProbe: number }
  >();
  const base = (id: string) => join(dir, id);

  const read = async (id: string): Promise<ProcessRecord | undefined> => {
    try {
      return JSON.parse(await readFile(`${base(id)}.json`, "utf8")) as ProcessRecord;
    } catch {
      return undefined;
    }
  };

  const launch = async (id: string, spec: ProcessSpec, hash: string): Promise<ProcessRecord> => {
    await mkdir(dir, { recursive: true });
    const pid = await spawnSupervised(spec.command, {
      base: base(id),
      cwd: spec.cwd ?? dir,
      env: childEnvironment(spec.env),
      stdout: `${base(id)}.out`,
      stderr: `${base(id)}.err`,
      append: true,
    });
    const record: ProcessRecord = {
      pid,
      hash,
      startedAt: Date.now(),
      bootTicks: (await processStartTicks(pid)) ?? "",
    };
    await atomicWrite(`${base(id)}.json`, JSON.stringify(record));
    return record;
  };

  const stop = async (record: ProcessRecord, graceMs: number) => {
    if (processAlive(record.pid) && (await processStartTicks(record.pid)) === record.bootTicks)
      await stopProcessGroup(record.pid, graceMs);
  };

  const probe = async (spec: ProcessSpec): Promise<boolean> => {
    const check = spec.healthCheck!;
    const timeoutMs = durationMs(check.timeout);
    switch (check.type) {
      case "http":
        return fetch(`http://127.0.0.1:${check.port}${check.path ?? "/"}`, {
          signal: AbortSignal.timeout(timeoutMs),
        }).then(
          (r) => r.status < 400,
          () => false,
        );
      case "tcp":
        return new Promise((resolve) => {
          const socket = connect({ port: check.port!, host: "127.0.0.1" });
          const timer = setTimeout(() => done(false), timeoutMs);
          const done = (ok: boolean) => {
            clearTimeout(timer);
            socket.destroy();
            resolve(ok);
          };
          socket.once("connect", () => done(true));
          socket.once("error", () => done(false));
        });
      case "file":
        return readFile(check.path!).then(
          () => true,
          () => false,
        );
      case "command": {
        const argv = commandArgv(check.command!);
        return new Promise((resolve) => {
          const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore", cwd: spec.cwd ?? dir });
          const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
          child.once("error", () => resolve(false));
          child.once("exit", (code) => {
            clearTimeout(timer);
            resolve(code === 0);
          });
        });
      }
    }
  };

  return defineKind({
    name: "Process",
    spec: ProcessSpecSchema,
    reconciler: {
      async observe(id): Promise<ObservedProcess | undefined> {
        const record = await read(id);
        if (!record) return undefined;
        const running =
          processAlive(record.pid) && (await processStartTicks(record.pid)) === record.bootTicks;
        if (running) return { ...record, running };
        const ended = await supervisedState(base(id));
        const finishedAt = await stat(`${base(id)}.exit`).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        );
        return { ...record, running, exitCode: ended.exitCode ?? 137, finishedAt };
      },

      async reconcile({ id, spec }, observed) {
        const hash = canonicalHash(spec);
        const t = crash.get(id) ?? { crashes: 0, healthFailures: 0, lastProbe: 0 };
        crash.set(id, t);
        const details = (r: ProcessRecord, extra: Record<string, unknown> = {}) => ({
          pid: r.pid,
          logs: `${base(id)}.{out,err}`,
          ...extra,
        });
        if (!observed || observed.hash !== hash) {
          if (observed) await stop(observed, durationMs(spec.stopGracePeriod));
          t.healthFailures = 0;
          return { changed: true, details: details(await launch(id, spec, hash)) };
        }
        if (!observed.running) {
          const code = observed.exitCode ?? 137;
          if (spec.restartPolicy === "no" || (spec.restartPolicy === "on-failure" && code === 0)) {
            return { changed: false, details: details(observed, { exited: code }) };
          }
          const finished = observed.finishedAt ?? Date.now();
          if (t.waitedFor !== finished) {
            t.crashes = finished - observed.startedAt >= minRunMs ? 1 : t.crashes + 1;
            if (t.crashes > 1) {
              t.waitedFor = finished;
              const delay = backoffDelay(
                { baseMs: 10_000, capMs: 300_000, jitter: 0.1 },
                t.crashes - 1,
              );
              throw new RetryAfterError(
                `process exited with code ${code}, ${t.crashes} times in a row: restarting in ${Math.round(delay / 1000)}s`,
                delay,
              );
            }
          }
          return {
            changed: true,
            details: details(await launch(id, spec, hash), { restarts: t.crashes }),
          };
        }
        const check = spec.healthCheck;
        if (!check) return { changed: false, details: details(observed) };
        const intervalMs = durationMs(check.interval);
        if (Date.now() - t.lastProbe >= intervalMs * 0.9) {
          t.lastProbe = Date.now();
          const inStart = Date.now() - observed.startedAt < durationMs(check.startPeriod);
          t.healthFailures = (await probe(spec))
            ? 0
            : inStart
              ? t.healthFailures
              : t.healthFailures + 1;
        }
        if (t.healthFailures >= check.retries) {
          await stop(observed, durationMs(spec.stopGracePeriod));
          t.healthFailures = 0;
          return {
            changed: true,
            details: details(await launch(id, spec, hash), { reason: "unhealthy" }),
          };
        }
        return {
          changed: false,
          details: details(observed, {
            health:
              t.healthFailures === 0 ? "healthy" : `failing ${t.healthFailures}/${check.retries}`,
          }),
          requeueAfterMs: intervalMs,
        };
      },

      async delete(id, spec) {
        const record = await read(id);
        if (record) await stop(record, spec ? durationMs(spec.stopGracePeriod) : 10_000);
        for (const ext of ["json", "pid", "exit"]) await rm(`${base(id)}.${ext}`, { force: true });
        crash.delete(id);
      },

      async list() {
        const files = await readdir(dir).catch(() => [] as string[]);
        return files.filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -".json".length));
      },
    },
  });
}
