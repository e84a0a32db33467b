import { createServer } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import { durationMs } from "@org/reconcile-core";
import Docker from "dockerode";
import {
  InvalidSpecError,
  type PortMapping,
  parseCpus,
  parseMemory,
  parsePort,
  parseVolume,
} from "./quantities.js";
import { demuxBuffer } from "./demux.js";
import {
  DaemonUnreachableError,
  DockerError,
  ImageNotFoundError,
  NameConflictError,
  PortInUseError,
} from "./errors.js";
import { LABEL_OWNER } from "../../driver.js";
import { dockerEndpoint } from "./socket.js";
import type { ContainerSpec } from "./spec.js";

/** What the driver reports of a container: typed, and only what reconcilers decide on. */
export interface ObservedContainer {
  id: string;
  name: string;
  image: string;
  state: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  exitCode?: number;
  startedAt?: Date;
  finishedAt?: Date;
  restartCount: number;
  oomKilled: boolean;
  /** Docker's own health status, when the container has a Docker health check. */
  dockerHealth?: "starting" | "healthy" | "unhealthy";
  labels: Record<string, string>;
  ports: Array<{ container: number; protocol: string; host?: number; hostIp?: string }>;
  /** The container's address on its first network, if any. */
  ipAddress?: string;
}

export interface DockerEngineOptions {
  /** Unix socket of the engine; default DOCKER_HOST (unix://, tcp://, ssh://), else /var/run/docker.sock. */
  socketPath?: string;
}

export interface LogLine {
  stream: "stdout" | "stderr";
  text: string;
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

/**
 * The dockerode client under the Docker workload driver: images, containers with ports, environment, volumes, limits,
 * restart policy, health check, user, read-only root, capabilities and network mode; logs with
 * stdout and stderr kept apart; list by label; typed inspection; stats; events.
 */
export class DockerEngine {
  /** Where the engine is, as errors name it: a socket path, or DOCKER_HOST (`tcp://host:2375`). */
  readonly endpoint: string;
  readonly docker: Docker;

  constructor(options: DockerEngineOptions = {}) {
    const { socketPath, description } = dockerEndpoint(options.socketPath);
    this.endpoint = description;
    // Without a socket path dockerode's modem reads DOCKER_HOST (and its TLS settings) itself.
    this.docker = socketPath ? new Docker({ socketPath }) : new Docker();
  }

  /** Throws `DaemonUnreachableError` naming the endpoint when the engine does not answer. */
  async ping(): Promise<void> {
    await this.#call("ping", () => this.docker.ping());
  }

  /** Makes sure `image` is present; pulls it only when `pull` is set. */
  async ensureImage(image: string, pull = false): Promise<void> {
    try {
      await this.#call("inspect image", () => this.docker.getImage(image).inspect());
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!pull)
      throw new ImageNotFoundError(
        `image '${image}' not found locally (pulling is disabled; build or load it, or set pull: true)`,
      );
    const stream = await this.#call("pull", () => this.docker.pull(image) as Promise<Readable>);
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(stream, (err: Error | null) =>
        err ? reject(new DockerError(`pulling '${image}' failed: ${err.message}`)) : resolve(),
      ),
    );
  }

  /** The engine's create options for `spec` (pure; validates limits and ports). */
  createOptions(
    name: string,
    spec: ContainerSpec,
    labels: Record<string, string>,
  ): Docker.ContainerCreateOptions {
    const ports = spec.ports.map(normalizePort);
    const exposed: Record<string, object> = {};
    const bindings: Record<string, Array<{ HostIp?: string; HostPort?: string }>> = {};
    for (const p of ports) {
      const key = `${p.container}/${p.protocol}`;
      exposed[key] = {};
      const binding = {
        HostIp: p.hostIp ?? "",
        HostPort: p.host === undefined ? "" : String(p.host),
      };
      bindings[key] = [...(bindings[key] ?? []), binding];
    }
    const mounts: Docker.MountSettings[] = spec.volumes.map(parseVolume);
    const health =
      spec.healthCheck?.type === "command" && spec.healthCheck.command !== undefined
        ? spec.healthCheck
        : undefined;
    return {
      name,
      Image: spec.image,
      ...(spec.command ? { Cmd: spec.command } : {}),
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: { ...spec.labels, ...labels },
      ExposedPorts: exposed,
      ...(spec.user ? { User: spec.user } : {}),
      ...(health
        ? {
            Healthcheck: {
              Test:
                typeof health.command === "string"
                  ? ["CMD-SHELL", health.command]
                  : ["CMD", ...(health.command as string[])],
              Interval: durationMs(health.interval) * 1e6,
              Timeout: durationMs(health.timeout) * 1e6,
              Retries: health.retries,
              StartPeriod: durationMs(health.startPeriod) * 1e6,
            },
          }
        : {}),
      StopTimeout: Math.ceil(durationMs(spec.stopGracePeriod) / 1000),
      HostConfig: {
        PortBindings: bindings,
        Mounts: mounts,
        RestartPolicy: { Name: spec.restartPolicy === "no" ? "" : spec.restartPolicy },
        ...(spec.cpus !== undefined ? { NanoCpus: parseCpus(spec.cpus) } : {}),
        ...(spec.memory !== undefined ? { Memory: parseMemory(spec.memory) } : {}),
        ReadonlyRootfs: spec.readOnly,
        ...(spec.capAdd.length ? { CapAdd: spec.capAdd } : {}),
        ...(spec.capDrop.length ? { CapDrop: spec.capDrop } : {}),
        ...(spec.network ? { NetworkMode: spec.network } : {}),
      },
    };
  }

  /**
   * Refuses host ports that are taken, naming the port and, when it is a container, which one.
   * `except` is a container being replaced, whose ports do not count.
   */
  async checkPorts(spec: ContainerSpec, except?: string): Promise<void> {
    const wanted = spec.ports.map(normalizePort).filter((p) => p.host !== undefined);
    if (wanted.length === 0) return;
    const containers = await this.#call("list containers", () =>
      this.docker.listContainers({ all: false }),
    );
    for (const p of wanted) {
      const holder = containers.find(
        (c) =>
          c.Id !== except &&
          c.Ports.some((cp) => cp.PublicPort === p.host && cp.Type === p.protocol),
      );
      if (holder) {
        throw new PortInUseError(
          `port ${p.host}/${p.protocol} is already in use by container ${holder.Names[0]?.replace(/^\//, "") ?? holder.Id.slice(0, 12)}`,
        );
      }
      if (p.protocol === "tcp" && !(await canBind(p.host!, p.hostIp))) {
        throw new PortInUseError(
          `port ${p.host}/tcp is already in use on ${p.hostIp || "0.0.0.0"} by a process on this host`,
        );
      }
    }
  }

  /** Ensures the image, checks ports, creates and starts; returns the container id. */
  async run(
    name: string,
    spec: ContainerSpec,
    labels: Record<string, string> = {},
    options: { replacing?: string } = {},
  ): Promise<string> {
    await this.ensureImage(spec.image, spec.pull);
    const createOptions = this.createOptions(name, spec, labels);
    await this.checkPorts(spec, options.replacing);
    const container = await this.#call("create container", () =>
      this.docker.createContainer(createOptions),
    ).catch(async (err) => {
      throw await this.#createFailed(name, err);
    });
    try {
      await this.#call("start container", () => container.start());
    } catch (err) {
      await container.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return container.id;
  }

  /** Why a create failed, in words a user can act on: a taken name says by what; a refused spec is terminal. */
  async #createFailed(name: string, err: unknown): Promise<unknown> {
    if (statusOf(err) === 409) {
      const holder = await this.inspect(name).catch(() => undefined);
      const owner = holder?.labels[LABEL_OWNER];
      const what = holder
        ? `container ${holder.id.slice(0, 12)} (image ${holder.image}, ${holder.state}, ${owner ? `managed by owner '${owner}'` : "not managed by this tool"})`
        : "another container";
      return new NameConflictError(
        `container name '${name}' is already taken by ${what}: remove that container (\`docker rm -f ${name}\`) or use another name`,
      );
    }
    if (statusOf(err) === 400)
      return new InvalidSpecError(
        `Docker refused to create container '${name}': ${(err as Error).message.replace(/^docker create container failed: /, "")}: change the spec`,
      );
    return err;
  }

  /** Starts a container; false when it cannot start because it is being removed. Starting a running one succeeds. */
  async start(id: string): Promise<boolean> {
    try {
      await this.#call("start container", () => this.docker.getContainer(id).start());
      return true;
    } catch (err) {
      if (statusOf(err) === 304) return true; // already started
      if (statusOf(err) === 409 && /marked for removal/.test(String((err as Error).message)))
        return false;
      throw err;
    }
  }

  /** Stops with a grace period (SIGTERM, then SIGKILL after `graceMs`). Stopping a stopped container succeeds. */
  async stop(id: string, graceMs = 10_000): Promise<void> {
    await this.#call("stop container", () =>
      this.docker.getContainer(id).stop({ t: Math.ceil(graceMs / 1000) }),
    ).catch((err) => {
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
    });
  }

  /** Removes (force kills a running one). Removing what is gone succeeds. */
  async remove(id: string): Promise<void> {
    await this.#call("remove container", () =>
      this.docker.getContainer(id).remove({ force: true, v: false }),
    ).catch((err) => {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    });
  }

  async inspect(idOrName: string): Promise<ObservedContainer | undefined> {
    try {
      return toObserved(
        await this.#call("inspect container", () => this.docker.getContainer(idOrName).inspect()),
      );
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Containers carrying every one of `labels` (running and stopped). */
  async list(labels: Record<string, string>): Promise<ObservedContainer[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const summaries = await this.#call("list containers", () =>
      this.docker.listContainers({ all: true, filters }),
    );
    const observed = await Promise.all(summaries.map((s) => this.inspect(s.Id)));
    return observed.filter((o): o is ObservedContainer => o !== undefined);
  }

  /** Names of every container carrying an owner label (and each of `withLabels`), by owner. */
  async owners(withLabels: string[] = []): Promise<Map<string, string[]>> {
    const summaries = await this.#call("list containers", () =>
      this.docker.listContainers({ all: true, filters: { label: [LABEL_OWNER, ...withLabels] } }),
    );
    const byOwner = new Map<string, string[]>();
    for (const c of summaries) {
      const owner = c.Labels[LABEL_OWNER];
      if (owner === undefined) continue;
      const names = byOwner.get(owner) ?? [];
      names.push(c.Names[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12));
      byOwner.set(owner, names);
    }
    return byOwner;
  }

  /** Logs so far, stdout and stderr apart. */
  async logs(
    id: string,
    options: { tail?: number } = {},
  ): Promise<{ stdout: string; stderr: string }> {
    const buffer = (await this.#call("read logs", () =>
      this.docker.getContainer(id).logs({
        stdout: true,
        stderr: true,
        follow: false,
        ...(options.tail ? { tail: options.tail } : {}),
      }),
    )) as unknown as Buffer;
    return demuxBuffer(buffer);
  }

  /** Follows logs as they are written; stop by aborting `signal`. */
  async followLogs(
    id: string,
    onLine: (line: LogLine) => void,
    signal: AbortSignal,
    options: { tail?: number } = {},
  ): Promise<void> {
    const stream = (await this.#call("follow logs", () =>
      this.docker
        .getContainer(id)
        .logs({ stdout: true, stderr: true, follow: true, tail: options.tail ?? 100 }),
    )) as unknown as Readable;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    lines(stdout, (text) => onLine({ stream: "stdout", text }));
    lines(stderr, (text) => onLine({ stream: "stderr", text }));
    this.docker.modem.demuxStream(stream, stdout, stderr);
    await untilEnded(stream, signal);
  }

  /**
   * CPU (% of one core) and memory, from one stats sample; undefined when the container is gone
   * or no longer running (it can go between a listing and this call).
   */
  async stats(
    id: string,
  ): Promise<{ cpuPercent: number; memoryBytes: number; memoryLimitBytes: number } | undefined> {
    let s: DockerStats;
    try {
      s = (await this.#call("read stats", () =>
        this.docker.getContainer(id).stats({ stream: false }),
      )) as unknown as DockerStats;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
    // A stopped container answers with empty samples (no cpu_usage): nothing to report.
    const now = s.cpu_stats?.cpu_usage;
    if (!now || s.memory_stats?.usage === undefined) return undefined;
    const before = s.precpu_stats?.cpu_usage?.total_usage ?? now.total_usage;
    const cpuDelta = now.total_usage - before;
    const systemDelta =
      (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
    const cpus = s.cpu_stats?.online_cpus ?? 1;
    const cache = s.memory_stats.stats?.inactive_file ?? s.memory_stats.stats?.cache ?? 0;
    return {
      cpuPercent: systemDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0,
      memoryBytes: Math.max(0, s.memory_stats.usage - cache),
      memoryLimitBytes: s.memory_stats.limit ?? 0,
    };
  }

  /** Runs `argv` in a running container; used by command and file health checks. */
  async exec(
    id: string,
    argv: string[],
    timeoutMs: number,
  ): Promise<{ exitCode: number | null; output: string }> {
    const exec = await this.#call("exec", () =>
      this.docker.getContainer(id).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true }),
    );
    const stream = (await exec.start({ hijack: true, stdin: false })) as Readable;
    let output = "";
    const sink = new PassThrough();
    sink.on("data", (chunk: Buffer) => {
      if (output.length < 4096) output += chunk.toString();
    });
    this.docker.modem.demuxStream(stream, sink, sink);
    const finished = await Promise.race([
      new Promise<boolean>((resolve) => {
        stream.on("end", () => resolve(true));
        stream.on("error", () => resolve(true));
      }),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
    ]);
    if (!finished) {
      stream.destroy();
      return { exitCode: null, output: `timed out after ${timeoutMs} ms` };
    }
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? null, output };
  }

  /** Container events (start, die, destroy, oom, health_status, ...) for containers with `labels`. */
  async events(
    labels: Record<string, string>,
    onEvent: (e: { action: string; id: string; labels: Record<string, string> }) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const stream = (await this.#call("watch events", () =>
      this.docker.getEvents({
        filters: {
          type: ["container"],
          label: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
        },
      }),
    )) as unknown as Readable;
    let partial = "";
    stream.on("data", (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as {
            Action?: string;
            status?: string;
            id?: string;
            Actor?: { ID?: string; Attributes?: Record<string, string> };
          };
          onEvent({
            action: (e.Action ?? e.status ?? "").split(":")[0]!,
            id: e.Actor?.ID ?? e.id ?? "",
            labels: e.Actor?.Attributes ?? {},
          });
        } catch {
          // A partial or foreign line: skip it.
        }
      }
    });
    await untilEnded(stream, signal);
  }

  /** Runs an engine call, turning an unreachable engine into `DaemonUnreachableError` naming it. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && UNREACHABLE.has(code)) {
        const hint = this.endpoint.includes("://")
          ? "is dockerd listening there, and is DOCKER_HOST right?"
          : "is dockerd running, and may this user use its socket?";
        throw new DaemonUnreachableError(
          `cannot reach the Docker daemon at ${this.endpoint} (${code}) to ${what}: ${hint}`,
        );
      }
      if (err instanceof DockerError || statusOf(err) !== undefined) {
        if (
          statusOf(err) === undefined ||
          statusOf(err) === 404 ||
          statusOf(err) === 304 ||
          statusOf(err) === 409
        )
          throw err;
        const message =
          (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
        throw Object.assign(new DockerError(`docker ${what} failed: ${message}`), {
          statusCode: statusOf(err),
        });
      }
      throw err;
    }
  }
}

/** One sample of Docker's stats endpoint; any part may be missing (a stopped or vanishing container). */
interface DockerStats {
  cpu_stats?: {
    cpu_usage?: { total_usage: number };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  precpu_stats?: { cpu_usage?: { total_usage: number }; system_cpu_usage?: number };
  memory_stats?: {
    usage?: number;
    limit?: number;
    stats?: { cache?: number; inactive_file?: number };
  };
}

/** Socket and network errors that mean the engine is not there (as opposed to refusing a request). */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOENT",
  "EACCES",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
]);

function normalizePort(p: ContainerSpec["ports"][number]): PortMapping {
  if (typeof p === "string" || typeof p === "number") return parsePort(p);
  return {
    container: p.container,
    protocol: p.protocol,
    ...(p.host === undefined ? {} : { host: p.host }),
    ...(p.hostIp ? { hostIp: p.hostIp } : {}),
  };
}

function toObserved(info: Docker.ContainerInspectInfo): ObservedContainer {
  const ports: ObservedContainer["ports"] = [];
  for (const [key, binds] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const [container, protocol] = key.split("/");
    for (const b of binds ?? [{ HostIp: "", HostPort: "" }]) {
      ports.push({
        container: Number(container),
        protocol: protocol ?? "tcp",
        ...(b.HostPort ? { host: Number(b.HostPort) } : {}),
        ...(b.HostIp ? { hostIp: b.HostIp } : {}),
      });
    }
  }
  const networks = Object.values(info.NetworkSettings?.Networks ?? {});
  const date = (text: string | undefined) =>
    text && !text.startsWith("0001-") ? new Date(text) : undefined;
  const startedAt = date(info.State.StartedAt);
  const finishedAt = date(info.State.FinishedAt);
  const health = (info.State as { Health?: { Status?: string } }).Health?.Status;
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ""),
    image: info.Config.Image,
    state: info.State.Status as ObservedContainer["state"],
    ...(info.State.Status === "exited" || info.State.Status === "dead"
      ? { exitCode: info.State.ExitCode }
      : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    restartCount: info.RestartCount ?? 0,
    oomKilled: info.State.OOMKilled,
    ...(health === "starting" || health === "healthy" || health === "unhealthy"
      ? { dockerHealth: health }
      : {}),
    labels: info.Config.Labels ?? {},
    ports,
    ...(networks[0]?.IPAddress ? { ipAddress: networks[0].IPAddress } : {}),
  };
}

/** Resolves when `stream` ends or fails, or `signal` aborts (then the stream is destroyed). */
function untilEnded(stream: Readable, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.destroy();
      resolve();
    };
    stream.on("end", done);
    stream.on("error", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function lines(stream: PassThrough, onLine: (text: string) => void): void {
  let partial = "";
  stream.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) onLine(p);
  });
}

function canBind(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: host || "0.0.0.0", exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}
