import { randomUUID } from "node:crypto";
import { ContainerSpecSchema, LABEL_OWNER } from "@org/workloads";
import { invalidInput, keyValues, print, waitForSignal } from "@org/cli";
import { durationMs } from "@org/reconcile-core";
import type { RuntimeConfig } from "../config.js";
import { CLI_OWNER, dockerEngine } from "./managed.js";

/** `run`'s flags, as commander parses them. */
export interface RunOptions {
  publish: string[];
  env: string[];
  volume: string[];
  name?: string;
  detach?: boolean;
  memory?: string;
  cpus?: string;
  restart: string;
  pull?: boolean;
  stopGrace: string;
}

/**
 * `run IMAGE [CMD...]`: one container. In the foreground it streams the logs (stdout and stderr
 * apart) until the container exits or Ctrl-C stops it, then removes it; `-d` prints its id.
 */
export async function runContainer(
  image: string,
  command: string[],
  o: RunOptions,
  config: RuntimeConfig,
): Promise<void> {
  const driver = dockerEngine(config);
  const parsed = ContainerSpecSchema.safeParse({
    image,
    ...(command.length ? { command } : {}),
    env: keyValues("-e", o.env),
    ports: o.publish,
    volumes: o.volume,
    ...(o.memory ? { memory: o.memory } : {}),
    ...(o.cpus ? { cpus: o.cpus } : {}),
    restartPolicy: o.restart,
    pull: o.pull ?? false,
    stopGracePeriod: o.stopGrace,
  });
  if (!parsed.success)
    throw invalidInput(`run ${image}`, parsed.error, "see `container-runtime run --help`");
  const name = o.name ?? `run-${randomUUID().slice(0, 8)}`;
  const id = await driver.run(name, parsed.data, { [LABEL_OWNER]: CLI_OWNER });
  if (o.detach) return print(id);

  const abort = new AbortController();
  const interrupted = waitForSignal(abort.signal).then((signal) => signal !== "aborted");
  const exited = (async () => {
    while (!abort.signal.aborted) {
      const c = await driver.inspect(id);
      if (!c || c.state === "exited" || c.state === "dead") return c?.exitCode ?? 1;
      await new Promise((r) => setTimeout(r, 200));
    }
    return 130;
  })();
  void driver.followLogs(
    id,
    (l) => (l.stream === "stdout" ? process.stdout : process.stderr).write(`${l.text}\n`),
    abort.signal,
    { tail: 1000 },
  );
  const code = await Promise.race([exited, interrupted.then(() => 130)]);
  abort.abort();
  const byUser = await interrupted;
  if (byUser) await driver.stop(id, durationMs(parsed.data.stopGracePeriod));
  await driver.remove(id);
  process.exitCode = byUser ? 0 : code;
}
