import { hostname } from "node:os";
import { layerFrom, maskSecrets, readConfigFile, resolveConfig } from "@org/reconcile-core";
import { NatsOptionsSchema } from "@org/transport-nats";
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
      "Where events and state go; absent = run without NATS",
    ),
    machinesDir: z
      .string()
      .default("/var/lib/edge-agent/machines")
      .describe("Directory of autonomous machines"),
    stateDir: z
      .string()
      .default("/var/lib/edge-agent")
      .describe("Where the agent keeps its own state"),
    factsFile: z.string().optional().describe("JSON file of facts that machines can look up"),
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  })
  .strict();

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Flags that override the file and environment (commander's parsed options). */
export interface AgentFlags {
  id?: string;
  nats?: string;
  machinesDir?: string;
  stateDir?: string;
  logLevel?: string;
}

/** The environment variables the agent reads, and the setting each one sets. */
export const AGENT_ENV: ReadonlyArray<[variable: string, path: string]> = [
  ["EDGE_AGENT_ID", "id"],
  ["EDGE_AGENT_NATS_URL", "nats.servers"],
  ["EDGE_AGENT_NATS_USER", "nats.user"],
  ["EDGE_AGENT_NATS_PASS", "nats.pass"],
  ["EDGE_AGENT_NATS_TOKEN", "nats.token"],
  ["EDGE_AGENT_NATS_CREDS", "nats.credsFile"],
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
  const fromEnv = layerFrom(
    AGENT_ENV.map(([variable, path]) => [path, env[variable] || undefined]),
  );
  const fromFlags = layerFrom([
    ["id", flags.id],
    ["nats.servers", flags.nats],
    ["machinesDir", flags.machinesDir],
    ["stateDir", flags.stateDir],
    ["logLevel", flags.logLevel],
  ]);
  return resolveConfig(
    AgentConfigSchema,
    [fromFile, fromEnv, fromFlags],
    file ? `agent config (${file})` : "agent config",
  );
}

/** The configuration as YAML-ready JSON with secrets masked, for `--print-config`. */
export function printableConfig(config: AgentConfig): string {
  return JSON.stringify(maskSecrets(config), null, 2);
}
