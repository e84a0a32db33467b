import { print, printJson, printTable, waitForSignal } from "@org/cli";
import { durationMs } from "@org/reconcile-core";
import { LABEL_AGENT } from "../agent-definition.js";
import type { RuntimeConfig } from "../config.js";
import {
  dockerEngine,
  findContainer,
  managedContainers,
  managedProcesses,
  ownerOf,
  replicaOf,
  supervisorReplicas,
} from "./managed.js";

/** One row of `ps`: a container or a process replica, with the supervisor's view when it runs. */
interface Row {
  kind: "container" | "process";
  name: string;
  id: string;
  image: string;
  state: string;
  exitCode?: number;
  ports: string[];
  agent?: string;
  replica?: string;
  /** The supervisor's status of the replica (Ready, Reconciling, Failed) and its health check. */
  status?: string;
  health?: string;
}

/**
 * `ps`: every container and process replica of this state directory's supervisor, and the
 * containers of `run`, one row each; STATUS and HEALTH come from the supervisor when one answers.
 */
export async function listContainers(o: { json?: boolean }, config: RuntimeConfig): Promise<void> {
  const owner = await ownerOf(config, { record: false });
  const rows: Row[] = [];
  if (config.strategy !== "process") {
    const engine = dockerEngine(config);
    // `auto` without an engine is the process strategy: no containers to list.
    const reachable =
      config.strategy === "docker" ||
      (await engine.ping().then(
        () => true,
        () => false,
      ));
    if (reachable)
      for (const c of await managedContainers(engine, owner)) {
        const replica = replicaOf(c.labels);
        rows.push({
          kind: "container",
          name: c.name,
          id: c.id.slice(0, 12),
          image: c.image,
          state: c.state,
          ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
          // Docker binds IPv4 and IPv6 separately: one entry per mapping.
          ports: [
            ...new Set(
              c.ports.filter((p) => p.host).map((p) => `${p.host}->${p.container}/${p.protocol}`),
            ),
          ],
          ...(c.labels[LABEL_AGENT] ? { agent: c.labels[LABEL_AGENT] } : {}),
          ...(replica ? { replica } : {}),
          ...(c.dockerHealth ? { health: c.dockerHealth } : {}),
        });
      }
  }
  for (const p of await managedProcesses(config, owner)) {
    const replica = replicaOf(p.labels);
    rows.push({
      kind: "process",
      name: p.name,
      id: `pid ${p.details.pid}`,
      image: "-",
      state: p.state,
      ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}),
      ports: [],
      ...(replica ? { agent: replica.replace(/-\d+$/, ""), replica } : {}),
    });
  }
  const seen = await supervisorReplicas(config);
  for (const row of rows) {
    const s = row.replica ? seen.get(row.replica) : undefined;
    if (s?.state) row.status = s.state;
    if (s?.health) row.health = s.health;
  }
  if (o.json) return printJson(rows);
  printTable(
    [
      ["NAME", "ID", "IMAGE", "STATE", "STATUS", "HEALTH", "PORTS", "AGENT"],
      ...rows.map((r) => [
        r.name,
        r.id,
        r.image,
        r.state + (r.exitCode !== undefined ? ` (${r.exitCode})` : ""),
        r.status ?? "-",
        r.health ?? "-",
        r.ports.join(",") || "-",
        r.agent ?? "-",
      ]),
    ],
    print,
  );
}

/** `logs NAME`: stdout to stdout, stderr to stderr; `-f` follows until Ctrl-C. */
export async function showLogs(
  name: string,
  o: { follow?: boolean; tail: string },
  config: RuntimeConfig,
): Promise<void> {
  const driver = dockerEngine(config);
  const c = await findContainer(driver, name, await ownerOf(config, { record: false }));
  if (!o.follow) {
    const logs = await driver.logs(c.id, { tail: Number(o.tail) });
    process.stdout.write(logs.stdout);
    process.stderr.write(logs.stderr);
    return;
  }
  const abort = new AbortController();
  void waitForSignal(abort.signal).then(() => abort.abort());
  await driver.followLogs(
    c.id,
    (l) => (l.stream === "stdout" ? process.stdout : process.stderr).write(`${l.text}\n`),
    abort.signal,
    { tail: Number(o.tail) },
  );
  abort.abort();
}

/** `stop NAME` and `rm NAME`: SIGTERM, SIGKILL after the grace period; `rm` then removes it. */
export async function stopContainer(
  name: string,
  o: { time: string; remove: boolean },
  config: RuntimeConfig,
): Promise<void> {
  const driver = dockerEngine(config);
  const c = await findContainer(driver, name, await ownerOf(config, { record: false }));
  await driver.stop(c.id, durationMs(o.time));
  if (o.remove) await driver.remove(c.id);
  print(c.name);
}

/** `inspect NAME`: the observed container as JSON. */
export async function inspectContainer(name: string, config: RuntimeConfig): Promise<void> {
  printJson(
    await findContainer(dockerEngine(config), name, await ownerOf(config, { record: false })),
  );
}

/** `stats`: CPU and memory of the running managed containers; one that goes meanwhile is left out. */
export async function showStats(o: { json?: boolean }, config: RuntimeConfig): Promise<void> {
  const driver = dockerEngine(config);
  const running = (
    await managedContainers(driver, await ownerOf(config, { record: false }))
  ).filter((c) => c.state === "running");
  const sampled = await Promise.all(
    running.map(async (c) => {
      const s = await driver.stats(c.id);
      return s ? { name: c.name, ...s } : undefined;
    }),
  );
  const stats = sampled.filter((s) => s !== undefined);
  if (o.json) return printJson(stats);
  printTable(
    [
      ["NAME", "CPU %", "MEMORY", "LIMIT"],
      ...stats.map((s) => [
        s.name,
        s.cpuPercent.toFixed(1),
        `${(s.memoryBytes / 2 ** 20).toFixed(1)}Mi`,
        s.memoryLimitBytes ? `${(s.memoryLimitBytes / 2 ** 20).toFixed(0)}Mi` : "-",
      ]),
    ],
    print,
  );
}
