import { join } from "node:path";
import { type AgentConfig, AgentConfigSchema } from "../src/config.js";

/** A bench agent: its own root and state under `dir`, no Docker, no systemd, quiet. */
export function benchAgentConfig(
  id: string,
  natsUrl: string,
  dir: string,
  root: string,
  overrides: Record<string, unknown> = {},
): AgentConfig {
  return AgentConfigSchema.parse({
    id,
    nats: { servers: natsUrl },
    allowedRoots: [root],
    stateDir: join(dir, ".state"),
    machinesDir: join(dir, ".machines"),
    docker: { enabled: false },
    systemd: { unitDir: join(dir, ".units"), systemctl: "/bin/false" },
    logLevel: "silent",
    ...overrides,
  });
}
