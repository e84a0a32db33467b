import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import {
  ConfigError,
  DurationSchema,
  layerFrom,
  maskSecrets,
  readConfigFile,
  resolveConfig,
  trustedKeyFromPem,
} from "@org/reconcile-core";
// The options schema alone: reading a config must not load the NATS client.
import { NatsOptionsSchema } from "@org/transport-nats/options";
import { z } from "zod";

/** The agent's whole configuration: one schema, read from a file, then the environment, then flags. */
export const AgentConfigSchema = z
  .object({
    id: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9_-]*$/,
        "agent ids use letters, digits, _ and - (they are KV key and subject tokens)",
      )
      .default(hostname().replace(/[^A-Za-z0-9_-]/g, "-"))
      .describe("This agent's identity in the fleet"),
    nats: NatsOptionsSchema.optional().describe(
      "Where desired state, status, heartbeats and events go; absent = run without NATS",
    ),
    bucket: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default("fleet")
      .describe("The fleet's KV bucket"),
    source: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("nats") }).strict(),
        z.object({ type: z.literal("file"), path: z.string() }).strict(),
      ])
      .optional()
      .describe(
        "Where the manifest comes from: NATS KV desired-state.<id> (default with nats) or a local file",
      ),
    allowedRoots: z
      .array(z.string().startsWith("/"))
      .default([])
      .describe("File resources must lie under one of these"),
    maxFileBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    scripts: z
      .object({ allowed: z.boolean().default(false) })
      .strict()
      .default({ allowed: false }),
    trust: z
      .object({
        keys: z
          .array(z.string())
          .default([])
          .describe("Trusted ed25519 public keys: PEM text or paths to PEM files"),
        requireSignature: z.boolean().default(false),
      })
      .strict()
      .default({ keys: [], requireSignature: false }),
    resync: DurationSchema.default("30s").describe(
      "Every resource is re-observed this often (drift check)",
    ),
    statusInterval: DurationSchema.default("1s").describe("Status is written at most this often"),
    heartbeatInterval: DurationSchema.default("10s"),
    docker: z
      .object({ enabled: z.boolean().default(true), socketPath: z.string().optional() })
      .strict()
      .default({ enabled: true }),
    systemd: z
      .object({
        unitDir: z.string().default("/etc/systemd/system"),
        systemctl: z
          .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
          .default("systemctl")
          .describe(
            "systemctl, or a command line ending in it that reaches another systemd: [docker, exec, box, systemctl], [ssh, pi@device, systemctl], [systemctl, --user]",
          ),
      })
      .strict()
      .default({ unitDir: "/etc/systemd/system", systemctl: "systemctl" }),
    machinesDir: z
      .string()
      .default("/var/lib/edge-agent/machines")
      .describe("Directory of autonomous machines"),
    stateDir: z
      .string()
      .default("/var/lib/edge-agent")
      .describe("Where the agent keeps its own state (manifest cache, script records)"),
    factsFile: z.string().optional().describe("JSON file of facts that machines can look up"),
    metricsPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe("Serve Prometheus metrics on this port"),
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  })
  .strict()
  .refine((c) => c.source?.type !== "nats" || c.nats !== undefined, {
    path: ["source"],
    message:
      "source type 'nats' needs a NATS connection: set nats.servers (or EDGE_AGENT_NATS_URL), or use source type 'file'",
  });

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Flags that override the file and environment (commander's parsed options). */
export interface AgentFlags {
  id?: string;
  nats?: string;
  allowedRoot?: string[];
  resync?: string;
  machinesDir?: string;
  stateDir?: string;
  logLevel?: string;
  metricsPort?: string;
  manifest?: string;
}

/** The environment variables the agent reads, and the setting each one sets. */
export const AGENT_ENV: ReadonlyArray<[variable: string, path: string]> = [
  ["EDGE_AGENT_ID", "id"],
  ["EDGE_AGENT_NATS_URL", "nats.servers"],
  ["EDGE_AGENT_NATS_USER", "nats.user"],
  ["EDGE_AGENT_NATS_PASS", "nats.pass"],
  ["EDGE_AGENT_NATS_TOKEN", "nats.token"],
  ["EDGE_AGENT_NATS_CREDS", "nats.credsFile"],
  ["EDGE_AGENT_BUCKET", "bucket"],
  ["EDGE_AGENT_RESYNC", "resync"],
  ["EDGE_AGENT_MACHINES_DIR", "machinesDir"],
  ["EDGE_AGENT_STATE_DIR", "stateDir"],
  ["EDGE_AGENT_FACTS_FILE", "factsFile"],
  ["EDGE_AGENT_LOG_LEVEL", "logLevel"],
];

export async function loadAgentConfig(
  file: string | undefined,
  flags: AgentFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  const fromFile = file
    ? relativeTo(dirname(resolve(file)), await readConfigFile(file))
    : undefined;
  const fromEnv = layerFrom([
    ...AGENT_ENV.map(([variable, path]): [string, unknown] => [path, env[variable] || undefined]),
    [
      "allowedRoots",
      env.EDGE_AGENT_ALLOWED_ROOTS
        ? env.EDGE_AGENT_ALLOWED_ROOTS.split(":").filter(Boolean)
        : undefined,
    ],
    ["metricsPort", env.EDGE_AGENT_METRICS_PORT ? Number(env.EDGE_AGENT_METRICS_PORT) : undefined],
  ]);
  const fromFlags = layerFrom([
    ["id", flags.id],
    ["nats.servers", flags.nats],
    ["allowedRoots", flags.allowedRoot?.length ? flags.allowedRoot : undefined],
    ["resync", flags.resync],
    ["machinesDir", flags.machinesDir],
    ["stateDir", flags.stateDir],
    ["logLevel", flags.logLevel],
    ["metricsPort", flags.metricsPort ? Number(flags.metricsPort) : undefined],
    ["source", flags.manifest ? { type: "file", path: flags.manifest } : undefined],
  ]);
  const config = resolveConfig(
    AgentConfigSchema,
    [fromFile, fromEnv, fromFlags],
    file ? `agent config (${file})` : "agent config",
  );
  checkFiles(config, file);
  return config;
}

/**
 * Settings that name a file or directory. In the config file a relative one is relative to the
 * file's directory (where it was written), never to wherever the agent was started; in the
 * environment and on the command line it is relative to the current directory, as in a shell.
 */
export const PATH_SETTINGS = [
  "stateDir",
  "machinesDir",
  "factsFile",
  "source.path",
  "systemd.unitDir",
  "docker.socketPath",
  "nats.nkeySeedFile",
  "nats.credsFile",
  "nats.tls.caFile",
  "nats.tls.certFile",
  "nats.tls.keyFile",
] as const;

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isPem = (key: string) => key.includes("-----BEGIN ");

/** `layer` (a config file's settings) with its relative paths made absolute against `dir`. */
function relativeTo(dir: string, layer: Plain): Plain {
  const out: Plain = structuredClone(layer);
  const absolute = (v: unknown) => (typeof v === "string" && !isAbsolute(v) ? resolve(dir, v) : v);
  for (const path of PATH_SETTINGS) {
    const parts = path.split(".");
    const parent = parts
      .slice(0, -1)
      .reduce<unknown>((node, p) => (isPlain(node) ? node[p] : undefined), out);
    const leaf = parts.at(-1) as string;
    if (isPlain(parent) && parent[leaf] !== undefined) parent[leaf] = absolute(parent[leaf]);
  }
  const trust = out.trust;
  if (isPlain(trust) && Array.isArray(trust.keys))
    trust.keys = trust.keys.map((k) => (typeof k === "string" && !isPem(k) ? absolute(k) : k));
  return out;
}

/** Files the agent reads at start, checked now so an error names the setting and the file. */
function checkFiles(config: AgentConfig, file: string | undefined): void {
  const where = file ? ` (a relative path in ${file} is relative to that file's directory)` : "";
  config.trust.keys.forEach((key, i) => {
    const setting = `trust.keys[${i}]`;
    let pem = key;
    if (!isPem(key)) {
      try {
        pem = readFileSync(key, "utf8");
      } catch (err) {
        throw new ConfigError(
          `${setting}: cannot read ${key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${where}. List the public key files (NAME.pub from \`edge-agent keygen\`) or their PEM text.`,
        );
      }
    }
    try {
      trustedKeyFromPem(pem);
    } catch (err) {
      throw new ConfigError(
        `${setting}: ${isPem(key) ? "the PEM text" : key} is not an ed25519 public key (${(err as Error).message}). List NAME.pub from \`edge-agent keygen\`.`,
      );
    }
  });
  if (config.factsFile) {
    try {
      const facts: unknown = JSON.parse(readFileSync(config.factsFile, "utf8"));
      if (!isPlain(facts)) throw new Error("it must hold a JSON object");
    } catch (err) {
      throw new ConfigError(
        `factsFile: cannot use ${config.factsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${where}.`,
      );
    }
  }
}

/** The configuration as JSON with secrets masked, for `--print-config`. */
export function printableConfig(config: AgentConfig): string {
  return JSON.stringify(maskSecrets(config), null, 2);
}
