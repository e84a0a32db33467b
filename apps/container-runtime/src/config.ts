import { access } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { layerFrom, maskSecrets, readConfigFile, resolveConfig } from "@org/reconcile-core";
import { z } from "zod";

/** The config file read when `--config` is not given and it exists in the working directory. */
export const DEFAULT_CONFIG_FILE = "container-runtime.yaml";

const defaultStateDir = () =>
  process.getuid?.() === 0
    ? "/var/lib/container-runtime"
    : join(homedir(), ".local/state/container-runtime");

/** The runtime's whole configuration: one schema, read from a file, then the environment, then flags. */
export const RuntimeConfigSchema = z
  .object({
    stateDir: z
      .string()
      .default(defaultStateDir)
      .describe("Where applied specs and process replicas' records are kept"),
    api: z
      .object({
        host: z.string().default("127.0.0.1").describe("Address `serve` listens on"),
        port: z.number().int().min(1).max(65535).default(7070).describe("Port `serve` listens on"),
        url: z
          .url()
          .optional()
          .describe(
            "Where `apply` and `delete` look for a running supervisor; default http://<host>:<port>",
          ),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 7070 }),
    owner: z
      .string()
      .optional()
      .describe(
        "The supervisor's owner label; default one derived from stateDir (kept in <stateDir>/owner). Supervisors never touch another owner's replicas",
      ),
    strategy: z
      .enum(["auto", "docker", "process"])
      .default("auto")
      .describe("How replicas run: docker, process, or auto (docker when an engine answers)"),
    secretsDir: z.string().optional().describe("Directory of secret files for `from: secret`"),
    docker: z
      .object({
        socketPath: z
          .string()
          .optional()
          .describe("The engine's Unix socket; default from DOCKER_HOST or /var/run/docker.sock"),
      })
      .strict()
      .default({}),
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
  })
  .strict();

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema> & {
  api: { url: string };
};

/** Flags that override the file and environment (commander's parsed options). */
export interface RuntimeFlags {
  stateDir?: string;
  owner?: string;
  api?: string;
  host?: string;
  port?: string;
  strategy?: string;
  secretsDir?: string;
  logLevel?: string;
}

/** The environment variables the runtime reads, and the setting each one sets. */
export const RUNTIME_ENV: ReadonlyArray<[variable: string, path: string]> = [
  ["CONTAINER_RUNTIME_STATE_DIR", "stateDir"],
  ["CONTAINER_RUNTIME_OWNER", "owner"],
  ["CONTAINER_RUNTIME_API", "api.url"],
  ["CONTAINER_RUNTIME_HOST", "api.host"],
  ["CONTAINER_RUNTIME_STRATEGY", "strategy"],
  ["CONTAINER_RUNTIME_SECRETS_DIR", "secretsDir"],
  ["CONTAINER_RUNTIME_DOCKER_SOCKET", "docker.socketPath"],
  ["CONTAINER_RUNTIME_LOG_LEVEL", "logLevel"],
];

const port = (value: string | undefined) => (value ? Number(value) : undefined);

/**
 * Resolves the configuration: `file` (or `container-runtime.yaml` in the working directory when
 * there is one), then CONTAINER_RUNTIME_* variables, then `flags`.
 */
export async function loadRuntimeConfig(
  file: string | undefined,
  flags: RuntimeFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RuntimeConfig> {
  const path = file ?? (await existingDefault());
  const fromFile = path ? await readConfigFile(path) : undefined;
  const fromEnv = layerFrom([
    // The logger's own variable keeps working, below the runtime's.
    ["logLevel", env.LOG_LEVEL || undefined],
    ...RUNTIME_ENV.map(([variable, at]): [string, unknown] => [at, env[variable] || undefined]),
    ["api.port", port(env.CONTAINER_RUNTIME_PORT)],
  ]);
  const fromFlags = layerFrom([
    ["stateDir", flags.stateDir],
    ["owner", flags.owner],
    ["api.url", flags.api],
    ["api.host", flags.host],
    ["api.port", port(flags.port)],
    ["strategy", flags.strategy],
    ["secretsDir", flags.secretsDir],
    ["logLevel", flags.logLevel],
  ]);
  const config = resolveConfig(
    RuntimeConfigSchema,
    [fromFile, fromEnv, fromFlags],
    path ? `config (${path}, environment and flags)` : "config (environment and flags)",
  );
  return { ...config, api: { ...config.api, url: config.api.url ?? localUrl(config.api) } };
}

/** Where a supervisor listening on `host:port` is reached from this machine. */
function localUrl({ host, port }: { host: string; port: number }): string {
  if (host === "0.0.0.0" || host === "::") return `http://127.0.0.1:${port}`;
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

async function existingDefault(): Promise<string | undefined> {
  return access(DEFAULT_CONFIG_FILE).then(
    () => DEFAULT_CONFIG_FILE,
    () => undefined,
  );
}

/** The configuration as JSON with secrets masked, for `--print-config`. */
export function printableConfig(config: RuntimeConfig): string {
  return JSON.stringify(maskSecrets(config), null, 2);
}
