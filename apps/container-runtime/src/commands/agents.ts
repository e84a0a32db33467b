import { readFile } from "node:fs/promises";
import { CliError, print } from "@org/cli";
import { createLogger, durationMs } from "@org/reconcile-core";
import { z } from "zod";
import {
  type AgentDefinition,
  checkAgentDefinition,
  parseAgentDefinitionText,
  replicaIds,
} from "../agent-definition.js";
import type { RuntimeConfig } from "../config.js";
import { detectStrategy, type ReplicaStatus, Supervisor } from "../supervisor.js";
import { dockerEngine, ownerOf } from "./managed.js";

async function loadAgent(file: string): Promise<{ agent: AgentDefinition; ignored: string[] }> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${err.code ?? err.message}`);
  });
  const result = parseAgentDefinitionText(text);
  if (!result.ok) throw new CliError(`${file}: ${result.error}`);
  return result;
}

/** The running supervisor's API, when one answers. */
async function supervisorApi(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(700) });
    return r.ok ? url : undefined;
  } catch {
    return undefined;
  }
}

/** An in-process supervisor on the state directory, for `apply` and `delete` when none is running. */
async function localSupervisor(config: RuntimeConfig): Promise<Supervisor> {
  const driver = dockerEngine(config);
  const supervisor = new Supervisor({
    stateDir: config.stateDir,
    strategy: config.strategy === "auto" ? await detectStrategy(driver) : config.strategy,
    // The state directory's owner: a supervisor started on it later adopts these replicas, and
    // one on another state directory leaves them alone.
    owner: await ownerOf(config),
    driver,
    log: createLogger("container-runtime", { level: "warn" }, process.stderr),
    ...(config.secretsDir ? { secretsDir: config.secretsDir } : {}),
  });
  await supervisor.start();
  return supervisor;
}

/** `validate -f agent.yaml`: every check the runtime makes before it runs a replica, and which fields only matter when building an image. */
export async function validateAgent(file: string): Promise<void> {
  const { agent, ignored } = await loadAgent(file);
  const problem = checkAgentDefinition(agent);
  if (problem) throw new CliError(`${file}: ${problem}`);
  print(
    `${file}: ok (${agent.metadata.name} ${agent.metadata.version}, ${replicaIds(agent).length} replica(s), image ${agent.spec.image ?? `${agent.metadata.name}:${agent.metadata.version}`})`,
  );
  if (ignored.length)
    print(`ignored (they only matter when building an image): ${ignored.join(", ")}`);
}

/** One replica as `apply` follows it, from the API or the in-process supervisor. */
interface ReplicaView {
  id: string;
  state?: string | undefined;
  health?: string | undefined;
  error?: string | undefined;
  /** Absent on a Failed replica: the failure is terminal. */
  retryAt?: string | undefined;
}

const AgentView = z.object({
  ready: z.number(),
  replicas: z.number(),
  replicaStatus: z.array(
    z.object({
      id: z.string(),
      state: z.string().optional(),
      health: z.string().optional(),
      error: z.string().optional(),
      retryAt: z.string().optional(),
    }),
  ),
});

/**
 * Follows an agent's replicas until all are Ready. Prints a line when their states change, and
 * each failure's reason the first time it is seen; a terminal failure (no retry will fix it)
 * ends the wait at once.
 */
async function follow(
  name: string,
  timeout: string,
  read: () => Promise<{ ready: boolean; replicas: ReplicaView[] }>,
): Promise<void> {
  const end = Date.now() + durationMs(timeout);
  let last = "";
  const told = new Map<string, string>();
  for (;;) {
    const { ready, replicas } = await read();
    const states = replicas
      .map(
        (r) =>
          `${r.id}=${r.state ?? "?"}${r.health && r.health !== "healthy" ? ` (health ${r.health})` : ""}`,
      )
      .join(" ");
    if (states !== last)
      print(
        `${name}: ${replicas.filter((r) => r.state === "Ready").length}/${replicas.length} ready ${states}`,
      );
    last = states;
    for (const r of replicas) {
      if (r.state !== "Failed" || !r.error || told.get(r.id) === r.error) continue;
      told.set(r.id, r.error);
      print(`${r.id}: ${r.error}${r.retryAt ? ` (retrying at ${r.retryAt})` : ""}`);
    }
    if (ready) return;
    const terminal = replicas.filter((r) => r.state === "Failed" && !r.retryAt);
    if (terminal.length > 0)
      throw new CliError(
        `${name} cannot become healthy: ${terminal.map((r) => `${r.id}: ${r.error}`).join("; ")}`,
      );
    if (Date.now() > end) {
      const failed = replicas.filter((r) => r.error);
      throw new CliError(
        `${name} is not healthy after ${timeout}: ${failed.map((r) => `${r.id}: ${r.error}`).join("; ") || states}`,
      );
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

/**
 * `apply -f agent.yaml`: through the running supervisor when one answers, else in-process;
 * prints progress and each failure's reason as it happens, and returns once every replica is
 * ready, or throws why not (at once when a failure is terminal).
 */
export async function applyAgent(
  file: string,
  o: { timeout: string },
  config: RuntimeConfig,
): Promise<void> {
  const { agent } = await loadAgent(file);
  const name = agent.metadata.name;
  const api = await supervisorApi(config.api.url);
  if (api) {
    const r = await fetch(`${api}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(agent),
    });
    const body = (await r.json()) as { error?: string; generation?: number };
    if (!r.ok) throw new CliError(body.error ?? `supervisor answered ${r.status}`);
    print(`applied ${name} (generation ${body.generation}) through the supervisor at ${api}`);
    await follow(name, o.timeout, async () => {
      const s = AgentView.parse(await (await fetch(`${api}/v1/agents/${name}`)).json());
      return { ready: s.ready === s.replicas, replicas: s.replicaStatus };
    });
    return print(`${name} is healthy`);
  }
  const supervisor = await localSupervisor(config);
  try {
    const { generation } = await supervisor.apply(agent);
    await follow(name, o.timeout, async () => {
      const s = supervisor.summary(name);
      if (!s) throw new CliError(`agent ${name} is not applied`);
      const current = supervisor.controller.status().observedGeneration >= generation;
      return { ready: current && s.ready === s.replicas, replicas: s.replicaStatus.map(viewOf) };
    });
  } finally {
    await supervisor.stop();
  }
  print(
    `${name} is healthy (no supervisor is running: start \`container-runtime serve\` to keep it so)`,
  );
}

function viewOf(r: ReplicaStatus): ReplicaView {
  const s = r.status;
  const details = s?.state === "Ready" || s?.state === "Reconciling" ? s.details : undefined;
  return {
    id: r.id,
    state: s?.state,
    ...(typeof details?.health === "string" ? { health: details.health } : {}),
    ...(s?.state === "Failed" ? { error: s.error, retryAt: s.retryAt } : {}),
  };
}

/** `delete -f agent.yaml`: removes the agent and its replicas. */
export async function deleteAgent(file: string, config: RuntimeConfig): Promise<void> {
  const { agent } = await loadAgent(file);
  const name = agent.metadata.name;
  const api = await supervisorApi(config.api.url);
  if (api) {
    const r = await fetch(`${api}/v1/agents/${name}`, { method: "DELETE" });
    if (r.status === 404) throw new CliError(`${name} is not applied`);
    if (!r.ok) throw new CliError(`supervisor answered ${r.status}`);
    return print(`deleted ${name}`);
  }
  const supervisor = await localSupervisor(config);
  const deleted = await supervisor.delete(name);
  await supervisor.controller.idle();
  await supervisor.stop();
  if (!deleted) throw new CliError(`${name} is not applied`);
  print(`deleted ${name}`);
}
