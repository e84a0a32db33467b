import { connect } from "node:net";
import { durationMs } from "@org/reconcile-core";
import { commandArgv } from "../../command.js";
import type { ProbeResult } from "../../driver.js";
import type { HealthCheck } from "../../lifecycle.js";
import type { DockerEngine, ObservedContainer } from "./engine.js";

/** Where to reach a container port from this host: its bridge address, else a published port on loopback. */
function address(container: ObservedContainer, port: number): { host: string; port: number } {
  if (container.ipAddress) return { host: container.ipAddress, port };
  const published = container.ports.find((p) => p.container === port && p.host !== undefined);
  return { host: "127.0.0.1", port: published?.host ?? port };
}

/** Runs one health check against a running container. Never throws: a failure to probe is unhealthy. */
export async function probeHealth(
  engine: DockerEngine,
  container: ObservedContainer,
  check: HealthCheck,
): Promise<ProbeResult> {
  const timeoutMs = durationMs(check.timeout);
  try {
    switch (check.type) {
      case "command": {
        const r = await engine.exec(container.id, commandArgv(check.command!), timeoutMs);
        return {
          healthy: r.exitCode === 0,
          detail: `exit ${r.exitCode ?? "none"}${r.output ? `: ${r.output.trim().slice(0, 200)}` : ""}`,
        };
      }
      case "file": {
        const r = await engine.exec(container.id, ["test", "-e", check.path!], timeoutMs);
        return {
          healthy: r.exitCode === 0,
          detail: r.exitCode === 0 ? `${check.path} exists` : `${check.path} is missing`,
        };
      }
      case "tcp": {
        const target = address(container, check.port!);
        await new Promise<void>((resolve, reject) => {
          const socket = connect(target);
          const timer = setTimeout(() => {
            socket.destroy();
            reject(new Error(`no connection within ${timeoutMs} ms`));
          }, timeoutMs);
          socket.once("connect", () => {
            clearTimeout(timer);
            socket.end();
            resolve();
          });
          socket.once("error", (err) => {
            clearTimeout(timer);
            reject(err);
          });
        });
        return { healthy: true, detail: `connected to ${target.host}:${target.port}` };
      }
      case "http": {
        const target = address(container, check.port!);
        const url = `http://${target.host}:${target.port}${check.path ?? "/"}`;
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        await response.body?.cancel();
        return { healthy: response.status < 400, detail: `GET ${url}: ${response.status}` };
      }
    }
  } catch (err) {
    return { healthy: false, detail: (err as Error).message };
  }
}
