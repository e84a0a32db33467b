import { spawn } from "node:child_process";
import { mkdir, open, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { commandArgv, HealthCheckSchema, RestartPolicySchema } from "@org/docker";
import {
  backoffDelay,
  canonicalHash,
  DurationSchema,
  defineKind,
  durationMs,
  RetryAfterError,
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
  exitCode?: number;
  finishedAt?: number;
}

export interface ObservedProcess extends ProcessRecord {
  running: boolean;
}

async function startTicks(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The process strategy, for machines without Docker: each resource is a local process started
 * detached, its stdout and stderr appended to `<dir>/<id>.out` and `.err`, its pid and spec hash
 * recorded in `<dir>/<id>.json`, so a restarted supervisor adopts it (the pid's kernel start
 * time guards against pid reuse). Restarts follow the policy with a crash-loop backoff; health
 * checks (http, tcp, command, file) run on the host.
 */
export function processKind(options: { dir: string; minRunMs?: number }) {
  const dir = options.dir;
  const minRunMs = options.minRunMs ?? 10_000;
  const crash = new Map<
    string,
    { crashes: number; waitedFor?: number; healthFailures: number; lastProbe: number }
  >();
  const recordPath = (id: string) => join(dir, `${id}.json`);
  const children = new Map<string, Promise<number | null>>();

  const read = async (id: string): Promise<ProcessRecord | undefined> => {
    try {
      return JSON.parse(await readFile(recordPath(id), "utf8")) as ProcessRecord;
    } catch {
      return undefined;
    }
  };

  const launch = async (id: string, spec: ProcessSpec, hash: string): Promise<ProcessRecord> => {
    await mkdir(dir, { recursive: true });
    const out = await open(join(dir, `${id}.out`), "a");
    const err = await open(join(dir, `${id}.err`), "a");
    const child = spawn(spec.command[0]!, spec.command.slice(1), {
      cwd: spec.cwd ?? dir,
      env: { ...process.env, ...spec.env },
      stdio: ["ignore", out.fd, err.fd],
      detached: true,
    });
    // Listen before awaiting anything: "spawn" and "error" fire on the next tick.
    const started = new Promise<Error | undefined>((resolve) => {
      child.once("error", resolve);
      child.once("spawn", () => resolve(undefined));
    });
    await Promise.all([out.close(), err.close()]);
    const failed = await started;
    if (failed)
      throw new Error(
        `cannot start ${spec.command[0]}: ${(failed as NodeJS.ErrnoException).code ?? failed.message}`,
      );
    const record: ProcessRecord = {
      pid: child.pid!,
      hash,
      startedAt: Date.now(),
      bootTicks: (await startTicks(child.pid!)) ?? "",
    };
    children.set(
      id,
      new Promise((resolve) =>
        child.once("exit", async (code) => {
          const current = await read(id);
          if (current?.pid === record.pid)
            await atomicWrite(
              recordPath(id),
              JSON.stringify({ ...current, exitCode: code ?? 137, finishedAt: Date.now() }),
            );
          resolve(code);
        }),
      ),
    );
    child.unref();
    await atomicWrite(recordPath(id), JSON.stringify(record));
    return record;
  };

  const stopProcess = async (record: ProcessRecord, graceMs: number) => {
    if (!alive(record.pid) || (await startTicks(record.pid)) !== record.bootTicks) return;
    try {
      process.kill(-record.pid, "SIGTERM");
    } catch {
      return;
    }
    const end = Date.now() + graceMs;
    while (alive(record.pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (alive(record.pid)) process.kill(-record.pid, "SIGKILL");
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
          record.exitCode === undefined &&
          alive(record.pid) &&
          (await startTicks(record.pid)) === record.bootTicks;
        return { ...record, running };
      },
      async reconcile({ id, spec }, observed) {
        const hash = canonicalHash(spec);
        const t = crash.get(id) ?? { crashes: 0, healthFailures: 0, lastProbe: 0 };
        crash.set(id, t);
        const details = (r: ProcessRecord, extra: Record<string, unknown> = {}) => ({
          pid: r.pid,
          logs: join(dir, `${id}.{out,err}`),
          ...extra,
        });
        if (!observed || observed.hash !== hash) {
          if (observed) await stopProcess(observed, durationMs(spec.stopGracePeriod));
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
          await stopProcess(observed, durationMs(spec.stopGracePeriod));
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
        if (record) await stopProcess(record, spec ? durationMs(spec.stopGracePeriod) : 10_000);
        await rm(recordPath(id), { force: true });
        crash.delete(id);
      },
      async list() {
        const files = await readdir(dir).catch(() => [] as string[]);
        return files.filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -".json".length));
      },
    },
  });
}
