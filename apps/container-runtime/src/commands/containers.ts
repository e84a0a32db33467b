import { print, printJson, printTable, waitForSignal } from "@org/cli";
import { durationMs } from "@org/reconcile-core";
import type { RuntimeConfig } from "../config.js";
import { dockerEngine, findContainer, managedContainers } from "./managed.js";

/** `ps`: every managed container, one row each. */
export async function listContainers(o: { json?: boolean }, config: RuntimeConfig): Promise<void> {
  const all = await managedContainers(dockerEngine(config));
  if (o.json) return printJson(all);
  printTable(
    [
      ["NAME", "ID", "IMAGE", "STATE", "PORTS", "AGENT"],
      ...all.map((c) => [
        c.name,
        c.id.slice(0, 12),
        c.image,
        c.state + (c.exitCode !== undefined ? ` (${c.exitCode})` : ""),
        // Docker binds IPv4 and IPv6 separately: one entry per mapping.
        [
          ...new Set(
            c.ports.filter((p) => p.host).map((p) => `${p.host}->${p.container}/${p.protocol}`),
          ),
        ].join(",") || "-",
        c.labels["org.reconcile.agent"] ?? "-",
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
  const c = await findContainer(driver, name);
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
  const c = await findContainer(driver, name);
  await driver.stop(c.id, durationMs(o.time));
  if (o.remove) await driver.remove(c.id);
  print(c.name);
}

/** `inspect NAME`: the observed container as JSON. */
export async function inspectContainer(name: string, config: RuntimeConfig): Promise<void> {
  printJson(await findContainer(dockerEngine(config), name));
}

/** `stats`: CPU and memory of the running managed containers. */
export async function showStats(o: { json?: boolean }, config: RuntimeConfig): Promise<void> {
  const driver = dockerEngine(config);
  const running = (await managedContainers(driver)).filter((c) => c.state === "running");
  const stats = await Promise.all(
    running.map(async (c) => ({ name: c.name, ...(await driver.stats(c.id)) })),
  );
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
