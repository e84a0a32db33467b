import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { durationMs } from "@org/reconcile-core";
import { childEnvironment, writeFileAtomic } from "@org/reconcile-core/internal";
import { z } from "zod";
import { commandArgv } from "../../command.js";
import type { Labels, ObservedWorkload, ProbeResult, WorkloadDriver } from "../../driver.js";
import type { HealthCheck } from "../../lifecycle.js";
import { LifecycleSpecSchema } from "../../lifecycle.js";
import {
  processAlive,
  processStartTicks,
  spawnSupervised,
  stopProcessGroup,
  supervisedState,
} from "./supervise.js";

/** A supervised local process: a container spec's command, environment and lifecycle, without an image. */
export const ProcessSpecSchema = LifecycleSpecSchema.extend({
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional().describe("Working directory; default the driver's directory"),
}).strict();

export type ProcessSpec = z.infer<typeof ProcessSpecSchema>;
export type ProcessSpecInput = z.input<typeof ProcessSpecSchema>;

/** What `<dir>/<name>.json` holds: enough to adopt the process after a restart of whoever started it. */
const ProcessRecordSchema = z.object({
  pid: z.number().int().positive(),
  startedAt: z.number(),
  /** Kernel start time of the pid, so a reused pid is not mistaken for ours. */
  bootTicks: z.string(),
  labels: z.record(z.string(), z.string()),
});
type ProcessRecord = z.infer<typeof ProcessRecordSchema>;

export interface ProcessDriverOptions {
  /** Where records, pid and exit files and logs (`<name>.out`, `<name>.err`) live. */
  dir: string;
}

/** Workload names become file names: keep them to one safe path segment. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Local processes, for machines without Docker. Each workload is started detached in its own
 * process group under a wrapper that records its pid and exit code (`spawnSupervised`); its
 * stdout and stderr are appended to `<dir>/<name>.out` and `.err` and its labels kept in
 * `<dir>/<name>.json`, so a restarted supervisor adopts it (the pid's kernel start time guards
 * against pid reuse) and knows how it ended. Stopping kills the whole process group. Health
 * checks run on the host: http and tcp against 127.0.0.1, command in the workload's directory.
 */
export function processDriver(options: ProcessDriverOptions): WorkloadDriver<ProcessSpec> {
  const { dir } = options;
  const base = (name: string) => join(dir, name);

  const read = async (name: string): Promise<ProcessRecord | undefined> => {
    const text = await readFile(`${base(name)}.json`, "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = ProcessRecordSchema.safeParse(json);
    // A record from an older layout or a foreign file is not ours to manage.
    return parsed.success ? parsed.data : undefined;
  };

  const alive = async (r: ProcessRecord) =>
    processAlive(r.pid) && (await processStartTicks(r.pid)) === r.bootTicks;

  const observe = async (name: string): Promise<ObservedWorkload | undefined> => {
    const record = await read(name);
    if (!record) return undefined;
    const common = {
      id: name,
      name,
      startedAt: new Date(record.startedAt),
      labels: record.labels,
      details: { pid: record.pid, logs: `${base(name)}.{out,err}` },
    };
    if (await alive(record)) return { ...common, state: "running" };
    const ended = await supervisedState(base(name));
    // No exit file: the wrapper itself was killed (the group got SIGKILL), so no code and no time.
    const finishedAt = await stat(`${base(name)}.exit`).then(
      (s) => new Date(s.mtimeMs),
      () => undefined,
    );
    return {
      ...common,
      state: "exited",
      exitCode: ended.exitCode ?? 137,
      ...(finishedAt ? { finishedAt } : {}),
    };
  };

  const launch = async (name: string, spec: ProcessSpec, labels: Labels) => {
    if (!NAME.test(name))
      throw new Error(
        `process workload name '${name}' is not a plain file name: use letters, digits, '.', '_' and '-'`,
      );
    await mkdir(dir, { recursive: true });
    const pid = await spawnSupervised(spec.command, {
      base: base(name),
      cwd: spec.cwd ?? dir,
      env: childEnvironment(spec.env),
      stdout: `${base(name)}.out`,
      stderr: `${base(name)}.err`,
      append: true,
    });
    const record: ProcessRecord = {
      pid,
      startedAt: Date.now(),
      bootTicks: (await processStartTicks(pid)) ?? "",
      labels,
    };
    await writeFileAtomic(`${base(name)}.json`, JSON.stringify(record));
    return (await observe(name))!;
  };

  /**
   * Stops the workload's whole process group. With the wrapper gone (killed by hand) its command
   * may live on in the group: the group is still ours, because Linux does not hand out a pid
   * again while a process group of that id exists. A live pid with another start time is a
   * stranger that reused the pid after our group ended: left alone.
   */
  const stop = async (name: string, graceMs: number) => {
    const record = await read(name);
    if (!record) return;
    if ((await alive(record)) || !processAlive(record.pid))
      await stopProcessGroup(record.pid, graceMs);
  };

  return {
    name: "process",
    specSchema: ProcessSpecSchema,

    create: ({ name, spec, labels }) => launch(name, spec, labels),

    inspect: observe,

    async list(labels) {
      const files = await readdir(dir).catch(() => [] as string[]);
      const names = files.filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
      const observed = await Promise.all(names.map(observe));
      return observed.filter(
        (o): o is ObservedWorkload =>
          o !== undefined && Object.entries(labels).every(([k, v]) => o.labels[k] === v),
      );
    },

    stop,

    async remove(id) {
      await stop(id, 0);
      // The logs stay: they are what a user reads after a workload is gone.
      for (const ext of ["json", "pid", "exit"]) await rm(`${base(id)}.${ext}`, { force: true });
    },

    async restart(workload, spec) {
      // What is left of the last run (a child of a killed wrapper) goes before the next starts.
      await stop(workload.name, durationMs(spec.stopGracePeriod));
      await launch(workload.name, spec, workload.labels);
      return true;
    },

    async logs(id, logOptions = {}) {
      const tail = (text: string) =>
        logOptions.tail === undefined
          ? text
          : text
              .split("\n")
              .slice(-(logOptions.tail + 1))
              .join("\n");
      const file = (ext: string) => readFile(`${base(id)}.${ext}`, "utf8").catch(() => "");
      return { stdout: tail(await file("out")), stderr: tail(await file("err")) };
    },

    probe: (_workload, check, spec) => probeOnHost(check, spec.cwd ?? dir),
  };
}

/** Runs one health check from this host. Never throws: a failure to probe is unhealthy. */
async function probeOnHost(check: HealthCheck, cwd: string): Promise<ProbeResult> {
  const timeoutMs = durationMs(check.timeout);
  switch (check.type) {
    case "http": {
      const url = `http://127.0.0.1:${check.port}${check.path ?? "/"}`;
      return fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).then(
        async (r) => {
          await r.body?.cancel();
          return { healthy: r.status < 400, detail: `GET ${url}: ${r.status}` };
        },
        (err: Error) => ({ healthy: false, detail: `GET ${url}: ${err.message}` }),
      );
    }
    case "tcp":
      return new Promise((resolve) => {
        const socket = connect({ port: check.port!, host: "127.0.0.1" });
        const done = (healthy: boolean, detail: string) => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ healthy, detail });
        };
        const timer = setTimeout(
          () => done(false, `no connection to 127.0.0.1:${check.port} within ${timeoutMs} ms`),
          timeoutMs,
        );
        socket.once("connect", () => done(true, `connected to 127.0.0.1:${check.port}`));
        socket.once("error", (err) => done(false, err.message));
      });
    case "file":
      return stat(check.path!).then(
        () => ({ healthy: true, detail: `${check.path} exists` }),
        () => ({ healthy: false, detail: `${check.path} is missing` }),
      );
    case "command": {
      const argv = commandArgv(check.command!);
      return new Promise((resolve) => {
        const child = spawn(argv[0]!, argv.slice(1), {
          stdio: "ignore",
          cwd,
          env: childEnvironment(),
        });
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.once("error", (err) => {
          clearTimeout(timer);
          resolve({ healthy: false, detail: err.message });
        });
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          resolve({
            healthy: code === 0,
            detail: signal ? `killed by ${signal} after ${timeoutMs} ms` : `exit ${code}`,
          });
        });
      });
    }
  }
}
