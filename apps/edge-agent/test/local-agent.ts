import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "@org/reconcile-core";
import { afterEach } from "vitest";
import { EdgeAgent } from "../src/agent.js";
import { AgentConfigSchema } from "../src/config.js";

/**
 * For a test file's top level: returns `agentIn(dir, extra)`, which builds an in-process agent
 * with everything under `dir` (files confined to `dir/root`, no NATS, Docker or systemd) and
 * `extra` config on top; every agent built is stopped after each test.
 */
export function useLocalAgents() {
  const agents: EdgeAgent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
  });
  return async function agentIn(dir: string, extra: Record<string, unknown> = {}) {
    const root = join(dir, "root");
    await mkdir(root, { recursive: true });
    const config = AgentConfigSchema.parse({
      id: "pi-test",
      allowedRoots: [root],
      stateDir: join(dir, "state"),
      machinesDir: join(dir, "machines"),
      systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
      docker: { enabled: false },
      resync: "1s",
      statusInterval: "50ms",
      logLevel: "silent",
      ...extra,
    });
    const agent = await EdgeAgent.create(config, createLogger("test", { level: "silent" }));
    agents.push(agent);
    return { agent, root };
  };
}
