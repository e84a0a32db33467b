import { hostname } from "node:os";
import {
  DurationSchema,
  layerFrom,
  maskSecrets,
  readConfigFile,
  resolveConfig,
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
        systemctl: z.string().default("systemctl"),
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
  const fromFile = file ? await readConfigFile(file) : undefined;
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
  return resolveConfig(
    AgentConfigSchema,
    [fromFile, fromEnv, fromFlags],
    file ? `agent config (${file})` : "agent config",
  );
}

/** The configuration as JSON with secrets masked, for `--print-config`. */
export function printableConfig(config: AgentConfig): string {
  return JSON.stringify(maskSecrets(config), null, 2);
}
