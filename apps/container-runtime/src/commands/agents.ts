import { readFile } from "node:fs/promises";
import { CliError, print } from "@org/cli";
import { createLogger, durationMs } from "@org/reconcile-core";
import { type AgentDefinition, parseAgentDefinitionText, replicaIds } from "../agent-definition.js";
import type { RuntimeConfig } from "../config.js";
import { detectStrategy, Supervisor } from "../supervisor.js";
import { dockerEngine } from "./managed.js";

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
    driver,
    log: createLogger("container-runtime", { level: "warn" }, process.stderr),
    ...(config.secretsDir ? { secretsDir: config.secretsDir } : {}),
  });
  await supervisor.start();
  return supervisor;
}

/** `validate -f agent.yaml`: schema checks, and which fields only matter when building an image. */
export async function validateAgent(file: string): Promise<void> {
  const { agent, ignored } = await loadAgent(file);
  print(
    `${file}: ok (${agent.metadata.name} ${agent.metadata.version}, ${replicaIds(agent).length} replica(s), image ${agent.spec.image ?? `${agent.metadata.name}:${agent.metadata.version}`})`,
  );
  if (ignored.length)
    print(`ignored (they only matter when building an image): ${ignored.join(", ")}`);
}

/**
 * `apply -f agent.yaml`: through the running supervisor when one answers, else in-process;
 * prints progress and returns once every replica is ready, or throws why not.
 */
export async function applyAgent(
  file: string,
  o: { timeout: string },
  config: RuntimeConfig,
): Promise<void> {
  const { agent } = await loadAgent(file);
  const name = agent.metadata.name;
  const timeoutMs = durationMs(o.timeout);
  const progress = (ready: number, total: number, states: string) =>
    print(`${name}: ${ready}/${total} ready ${states}`);
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
    const end = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const s = (await (await fetch(`${api}/v1/agents/${name}`)).json()) as {
        ready: number;
        replicas: number;
        replicaStatus: Array<{ id: string; state?: string; error?: string }>;
      };
      const states = s.replicaStatus.map((x) => `${x.id}=${x.state ?? "?"}`).join(" ");
      if (states !== last) progress(s.ready, s.replicas, states);
      last = states;
      if (s.ready === s.replicas) return print(`${name} is healthy`);
      if (Date.now() > end)
        throw new CliError(
          `${name} is not healthy after ${o.timeout}: ${
            s.replicaStatus
              .filter((x) => x.error)
              .map((x) => `${x.id}: ${x.error}`)
              .join("; ") || states
          }`,
        );
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  const supervisor = await localSupervisor(config);
  await supervisor.apply(agent);
  const result = await supervisor.waitReady(name, timeoutMs, (s) =>
    progress(
      s.ready,
      s.replicas,
      s.replicaStatus.map((x) => `${x.id}=${x.status?.state ?? "?"}`).join(" "),
    ),
  );
  await supervisor.stop();
  if (!result.ready) throw new CliError(`${name} is not healthy: ${result.reason}`);
  print(
    `${name} is healthy (no supervisor is running: start \`container-runtime serve\` to keep it so)`,
  );
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
