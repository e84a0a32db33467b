import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DurationSchema, formatIssues, type Manifest, ResourceIdSchema } from "@org/reconcile-core";
import { decodeYaml } from "@org/reconcile-core/internal";
import {
  type ContainerSpec,
  ContainerSpecSchema,
  CpuLimitSchema,
  MemoryLimitSchema,
  parseVolume,
  type HealthCheckSchema,
  type ProcessSpec,
  ProcessSpecSchema,
  RestartPolicySchema,
} from "@org/workloads";
import { z } from "zod";

const Name = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    "names are lower-case letters, digits and -, as in DNS labels",
  )
  .max(63);

const EnvVar = z.union([
  z.object({ name: z.string().min(1), value: z.string() }).strict(),
  z
    .object({
      name: z.string().min(1),
      from: z
        .enum(["env", "secret", "file"])
        .describe(
          "env: the supervisor's environment; secret: a file in the secrets directory; file: a file's content",
        ),
      key: z
        .string()
        .optional()
        .describe("env/secret: the variable or secret name (default: name)"),
      path: z.string().optional().describe("file: the path to read"),
    })
    .strict()
    .refine((e) => e.from !== "file" || e.path !== undefined, {
      message: "from: file needs a path",
    }),
]);

const Probe = {
  interval: DurationSchema.default("10s"),
  timeout: DurationSchema.default("3s"),
  retries: z.number().int().positive().default(3),
  startPeriod: DurationSchema.default("0s"),
};

const HealthCheck = z
  .object({
    command: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    http: z
      .object({ port: z.number().int().min(1).max(65535), path: z.string().default("/") })
      .strict()
      .optional(),
    tcp: z
      .object({ port: z.number().int().min(1).max(65535) })
      .strict()
      .optional(),
    file: z.object({ path: z.string() }).strict().optional(),
    ...Probe,
  })
  .strict()
  .refine((h) => [h.command, h.http, h.tcp, h.file].filter((x) => x !== undefined).length === 1, {
    message: "give exactly one of command, http, tcp or file",
  });

// The runtime's own parsers (through its schemas), so `validate` and the API refuse what it would.
const Limits = z
  .object({
    cpu: CpuLimitSchema.optional(),
    memory: MemoryLimitSchema.optional(),
  })
  .strict();

/** Label naming the agent a replica belongs to (the owner label says which supervisor). */
export const LABEL_AGENT = "org.reconcile.agent";

/** Fields that only matter when building an image: accepted, reported as ignored. */
export const BUILD_ONLY_FIELDS = ["runtime", "model", "capabilities", "dependencies"] as const;

/** `agent.yaml`: the Agent-as-Code format, plus image, command, replicas, restartPolicy and security. */
export const AgentDefinitionSchema = z
  .object({
    $schema: z.string().optional(),
    apiVersion: z.string().min(1),
    kind: z.literal("Agent"),
    metadata: z
      .object({
        name: Name,
        version: z.string().min(1).default("latest"),
        description: z.string().optional(),
        author: z.string().optional(),
        tags: z.array(z.string()).optional(),
        labels: z.record(z.string(), z.string()).default({}),
      })
      .strict(),
    spec: z
      .object({
        image: z.string().optional().describe("Default: metadata.name:metadata.version"),
        command: z
          .union([z.string(), z.array(z.string()).min(1)])
          .optional()
          .describe("Overrides the image's command"),
        replicas: z.number().int().min(0).max(100).optional(),
        scaling: z
          .object({ replicas: z.number().int().min(0).max(100) })
          .loose()
          .optional(),
        restartPolicy: RestartPolicySchema.default("always"),
        environment: z.array(EnvVar).default([]),
        ports: z
          .array(
            z
              .object({
                container: z.number().int().min(1).max(65535),
                host: z.number().int().min(1).max(65535).optional(),
                protocol: z.enum(["tcp", "udp"]).default("tcp"),
              })
              .strict(),
          )
          .default([]),
        volumes: z
          .array(
            z
              .object({
                source: z.string().optional(),
                target: z.string().startsWith("/"),
                type: z.enum(["bind", "volume", "tmpfs"]).default("volume"),
                readOnly: z.boolean().default(false),
              })
              .strict()
              .superRefine((v, ctx) => {
                try {
                  parseVolume(v);
                } catch (err) {
                  ctx.addIssue({ code: "custom", message: (err as Error).message });
                }
              }),
          )
          .default([]),
        healthCheck: HealthCheck.optional(),
        resources: z
          .object({ limits: Limits.optional(), requests: Limits.optional() })
          .strict()
          .optional(),
        security: z
          .object({
            user: z.string().optional(),
            readOnlyRootFilesystem: z.boolean().default(false),
            capabilities: z
              .object({
                add: z.array(z.string()).default([]),
                drop: z.array(z.string()).default([]),
              })
              .strict()
              .optional(),
          })
          .strict()
          .optional(),
        network: z.string().optional(),
        stopGracePeriod: DurationSchema.default("10s"),
        pull: z.boolean().default(false),
        // Build-time fields of the Agent-as-Code format: accepted, ignored here.
        runtime: z.unknown().optional(),
        model: z.unknown().optional(),
        capabilities: z.unknown().optional(),
        dependencies: z.unknown().optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (
      a.spec.replicas !== undefined &&
      a.spec.scaling !== undefined &&
      a.spec.replicas !== a.spec.scaling.replicas
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["spec", "replicas"],
        message: "spec.replicas and spec.scaling.replicas disagree",
      });
    }
    const hostPorts = a.spec.ports.filter((p) => p.host !== undefined);
    if (hostPorts.length > 0 && replicasOf(a) > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["spec", "ports"],
        message:
          "a fixed host port cannot be shared by several replicas; leave host out to get one per replica",
      });
    }
  });

export type AgentDefinition = z.infer<typeof AgentDefinitionSchema>;

export type AgentDefinitionResult =
  | { ok: true; agent: AgentDefinition; ignored: string[] }
  | { ok: false; error: string };

export function replicasOf(agent: Pick<AgentDefinition, "spec">): number {
  return agent.spec.replicas ?? agent.spec.scaling?.replicas ?? 1;
}

/** Validates a decoded agent.yaml; `ignored` lists the build-only fields present. Never throws. */
export function parseAgentDefinition(value: unknown): AgentDefinitionResult {
  const result = AgentDefinitionSchema.safeParse(value);
  if (!result.success)
    return { ok: false, error: `invalid agent spec: ${formatIssues(result.error)}` };
  const ignored = BUILD_ONLY_FIELDS.filter((f) => result.data.spec[f] !== undefined).map(
    (f) => `spec.${f}`,
  );
  return { ok: true, agent: result.data, ignored };
}

export function parseAgentDefinitionText(text: string): AgentDefinitionResult {
  const decoded = decodeYaml(text);
  if (!decoded.ok) return { ok: false, error: `agent spec is not valid YAML: ${decoded.message}` };
  return parseAgentDefinition(decoded.value);
}

/**
 * Everything the runtime checks before it runs a replica, short of the supervisor's own
 * environment (`from: env|secret|file` sources) and the engine: the agent schema, then the
 * replica's container spec compiled by the same code as the supervisor's. Never throws.
 */
export function checkAgentDefinition(agent: AgentDefinition): string | undefined {
  const env = Object.fromEntries(agent.spec.environment.map((e) => [e.name, ""]));
  try {
    containerSpecOf(agent, env);
    return undefined;
  } catch (err) {
    return err instanceof z.ZodError
      ? `invalid container spec: ${formatIssues(err)}`
      : (err as Error).message;
  }
}

export interface EnvironmentSources {
  env: NodeJS.ProcessEnv;
  /** Directory holding one file per secret. */
  secretsDir?: string;
}

/** Resolves `environment` entries; a missing variable, secret or file is an error naming it (never its value). */
export function resolveEnvironment(
  agent: AgentDefinition,
  sources: EnvironmentSources,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of agent.spec.environment) {
    if ("value" in e) {
      out[e.name] = e.value;
      continue;
    }
    const key = e.key ?? e.name;
    if (e.from === "env") {
      const value = sources.env[key];
      if (value === undefined)
        throw new Error(
          `environment ${e.name}: variable ${key} is not set in the supervisor's environment`,
        );
      out[e.name] = value;
    } else {
      const path =
        e.from === "secret"
          ? sources.secretsDir
            ? join(sources.secretsDir, key)
            : undefined
          : e.path!;
      if (!path) throw new Error(`environment ${e.name}: no secrets directory is configured`);
      try {
        out[e.name] = readFileSync(path, "utf8").replace(/\n$/, "");
      } catch {
        throw new Error(
          `environment ${e.name}: cannot read ${e.from} ${e.from === "secret" ? key : path}`,
        );
      }
    }
  }
  return out;
}

/** The agent's health check in the workload model's form. */
function healthCheckOf(agent: AgentDefinition): z.input<typeof HealthCheckSchema> | undefined {
  const hc = agent.spec.healthCheck;
  if (!hc) return undefined;
  return {
    interval: hc.interval,
    timeout: hc.timeout,
    retries: hc.retries,
    startPeriod: hc.startPeriod,
    ...(hc.command !== undefined ? { type: "command" as const, command: hc.command } : {}),
    ...(hc.http ? { type: "http" as const, port: hc.http.port, path: hc.http.path } : {}),
    ...(hc.tcp ? { type: "tcp" as const, port: hc.tcp.port } : {}),
    ...(hc.file ? { type: "file" as const, path: hc.file.path } : {}),
  } as z.input<typeof HealthCheckSchema>;
}

/** A string command runs under `sh -c`, as in a Dockerfile's shell form. */
const argvOf = (command: string | string[]) =>
  typeof command === "string" ? ["sh", "-c", command] : command;

/** The container spec of one replica. */
export function containerSpecOf(
  agent: AgentDefinition,
  env: Record<string, string>,
): ContainerSpec {
  const s = agent.spec;
  const limits = s.resources?.limits;
  const healthCheck = healthCheckOf(agent);
  return ContainerSpecSchema.parse({
    image: s.image ?? `${agent.metadata.name}:${agent.metadata.version}`,
    ...(s.command ? { command: argvOf(s.command) } : {}),
    env,
    ports: s.ports.map((p) => ({
      container: p.container,
      protocol: p.protocol,
      ...(p.host === undefined ? {} : { host: p.host }),
    })),
    volumes: s.volumes,
    labels: {
      ...agent.metadata.labels,
      [LABEL_AGENT]: agent.metadata.name,
      "org.reconcile.agent-version": agent.metadata.version,
    },
    ...(limits?.cpu !== undefined ? { cpus: limits.cpu } : {}),
    ...(limits?.memory !== undefined ? { memory: limits.memory } : {}),
    restartPolicy: s.restartPolicy,
    ...(healthCheck ? { healthCheck } : {}),
    ...(s.security?.user ? { user: s.security.user } : {}),
    readOnly: s.security?.readOnlyRootFilesystem ?? false,
    capAdd: s.security?.capabilities?.add ?? [],
    capDrop: s.security?.capabilities?.drop ?? [],
    ...(s.network ? { network: s.network } : {}),
    stopGracePeriod: s.stopGracePeriod,
    pull: s.pull,
  });
}

/** The local-process spec of one replica: the command, environment and lifecycle, no image. */
export function processSpecOf(agent: AgentDefinition, env: Record<string, string>): ProcessSpec {
  const s = agent.spec;
  if (s.command === undefined) {
    throw new Error(
      `agent replica ${replicaIds(agent)[0] ?? agent.metadata.name}: the process strategy needs spec.command`,
    );
  }
  const healthCheck = healthCheckOf(agent);
  return ProcessSpecSchema.parse({
    command: argvOf(s.command),
    env,
    restartPolicy: s.restartPolicy,
    ...(healthCheck ? { healthCheck } : {}),
    stopGracePeriod: s.stopGracePeriod,
  });
}

/** What a strategy runs replicas as: the resource kind's name and the spec of one replica. */
export interface ReplicaTarget {
  kind: string;
  specOf(agent: AgentDefinition, env: Record<string, string>): ContainerSpec | ProcessSpec;
}

export const containerReplicas: ReplicaTarget = { kind: "Container", specOf: containerSpecOf };
export const processReplicas: ReplicaTarget = { kind: "Process", specOf: processSpecOf };

/** Resource ids of an agent's replicas: `<name>-0`, `<name>-1`, ... */
export function replicaIds(agent: Pick<AgentDefinition, "metadata" | "spec">): string[] {
  return Array.from({ length: replicasOf(agent) }, (_, i) =>
    ResourceIdSchema.parse(`${agent.metadata.name}-${i}`),
  );
}

/** One resource per replica of every agent: a Container unless `target` says otherwise. */
export function compileManifest(
  generation: number,
  agents: Array<{ agent: AgentDefinition; env: Record<string, string> }>,
  target: ReplicaTarget = containerReplicas,
): Manifest {
  return {
    generation,
    resources: agents.flatMap(({ agent, env }) => {
      const spec = target.specOf(agent, env);
      return replicaIds(agent).map((id) => ({
        kind: target.kind,
        id,
        spec: spec as unknown as Record<string, unknown>,
      }));
    }),
  };
}
