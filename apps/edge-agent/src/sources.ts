import {
  FileStateSource,
  KvStateSource,
  type ParseResult,
  type StateSource,
} from "@org/reconcile-core";
import type { AgentConfig } from "./config.js";
import type { FleetLink } from "./fleet-link.js";
import { desiredKey } from "./fleet.js";

type SourceConfig = NonNullable<AgentConfig["source"]>;
type SourceType = SourceConfig["type"];

/** Sources hand over text: the agent decodes, checks the signature and reports refusals itself. */
const asText = (text: string): ParseResult<string> => ({ ok: true, value: text });

type SourceFactory<T extends SourceType> = (
  source: Extract<SourceConfig, { type: T }>,
  agent: { config: AgentConfig; link: FleetLink },
) => StateSource<string>;

/** One factory per `source.type` of the agent config. */
export const stateSources: { [T in SourceType]: SourceFactory<T> } = {
  file: (source) => new FileStateSource<string>({ path: source.path, parse: asText }),
  nats: (_source, { config, link }) => {
    const store = link.bucket(config.bucket);
    if (!store)
      throw new Error(
        "source type 'nats' needs a NATS connection: set nats.servers (or EDGE_AGENT_NATS_URL), or use source type 'file'",
      );
    return new KvStateSource<string>({ store, key: desiredKey(config.id), parse: asText });
  },
};

/** The configured source of desired state: `source`, else NATS KV when NATS is configured, else none. */
export function desiredStateSource(
  config: AgentConfig,
  link: FleetLink,
): StateSource<string> | undefined {
  const source: SourceConfig | undefined =
    config.source ?? (config.nats ? { type: "nats" } : undefined);
  if (!source) return undefined;
  const create = stateSources[source.type] as SourceFactory<SourceType>;
  return create(source as never, { config, link });
}

/** A name for logs: which source type is in use. */
export function sourceType(config: AgentConfig): SourceType | "none" {
  return config.source?.type ?? (config.nats ? "nats" : "none");
}
