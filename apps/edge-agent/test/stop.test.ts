import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  decodeJson,
  encodeJson,
  type KvStore,
  type ManifestStatus,
  ManifestStatusSchema,
} from "@org/reconcile-core";
import { type CliProcess, tempDir, until, writeMachineDir } from "@org/reconcile-core/testing";
import { connectNats, NatsKvStore } from "@org/transport-nats";
import { shouldRunNatsTests, TestNatsServer } from "@org/transport-nats/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { actualKey, desiredKey } from "../src/fleet.js";
import { Cli } from "./cli.js";

/** "Within a few seconds": what systemd, or an operator at Ctrl-C, may expect of a SIGTERM. */
const STOPS_WITHIN_MS = 5_000;

const running: CliProcess[] = [];
afterEach(async () => {
  // A test that failed may leave its agent running: it must not outlive the test.
  for (const cli of running.splice(0)) await cli.stop("SIGKILL");
});

/** Sends SIGTERM and returns the exit code, failing (and killing the agent) if it is still running after `ms`. */
async function sigtermEndsWithin(cli: CliProcess, ms: number): Promise<number | null> {
  const sentAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    cli.stop("SIGTERM"),
    new Promise<"running">((resolve) => {
      timer = setTimeout(() => resolve("running"), ms);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === "running") {
    await cli.stop("SIGKILL");
    throw new Error(
      `edge-agent run was still running ${ms} ms after SIGTERM; last stdout lines:\n${cli.stdout.slice(-15).join("\n")}\nstderr:\n${cli.stderr.join("\n")}`,
    );
  }
  expect(Date.now() - sentAt).toBeLessThan(ms);
  return outcome;
}

/** The index of the first stdout line (a pino JSON line) at or after `from` whose msg is `msg`, waiting for it. */
async function logged(cli: CliProcess, msg: string, from = 0, ms = 20_000): Promise<number> {
  const at = () => cli.stdout.findIndex((line, i) => i >= from && line.includes(`"msg":"${msg}"`));
  await until(at, (i) => i >= 0, ms, `log line "${msg}" (from line ${from})`).catch((err) => {
    throw new Error(`${(err as Error).message}; stdout:\n${cli.stdout.join("\n")}`);
  });
  return at();
}

describe.runIf(shouldRunNatsTests())(
  "edge-agent run stops on SIGTERM whatever NATS is doing",
  () => {
    let server: TestNatsServer;
    let nc: NatsConnection;
    let kv: KvStore;
    let dir: string;
    let root: string;
    const id = `pi-stop-${process.pid}`;
    const configPath = () => join(dir, "agent.yaml");

    const start = () => {
      const cli = Cli.start(["run", "--config", configPath()]);
      running.push(cli);
      return cli;
    };
    const status = async (): Promise<{ revision: number; status: ManifestStatus } | undefined> => {
      // While NATS restarts a read may time out: that is "not yet", not a failure.
      const entry = await kv.get(actualKey(id)).catch(() => undefined);
      return entry
        ? {
            revision: entry.revision,
            status: decodeJson(ManifestStatusSchema, actualKey(id), entry.revision, entry.value),
          }
        : undefined;
    };
    const motdState = (s: Awaited<ReturnType<typeof status>>) => s?.status.resources.motd?.state;

    beforeAll(async () => {
      server = await TestNatsServer.start();
      nc = await connectNats({ servers: server.url, reconnectWaitMs: 200 });
      kv = await NatsKvStore.open(nc, "fleet");
      dir = await tempDir("stop");
      root = join(dir, "root");
      await mkdir(root);
      await writeFile(
        configPath(),
        stringify({
          id,
          nats: { servers: server.url, reconnectWaitMs: 500 },
          allowedRoots: [root],
          resync: "1s",
          statusInterval: "100ms",
          heartbeatInterval: "1s",
          docker: { enabled: false },
          stateDir: join(dir, "state"),
          machinesDir: join(dir, "machines"),
          systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
          // "status write failed" is a debug line: it shows a status the agent could not send.
          logLevel: "debug",
        }),
      );
    }, 60_000);

    afterAll(async () => {
      await nc?.close();
      await server?.stop();
    });

    it("stops within seconds after its server went away, and writes the status it could not send after the next start", async () => {
      const motd = join(root, "motd");
      await kv.put(
        desiredKey(id),
        encodeJson({
          generation: 1,
          resources: [{ kind: "File", id: "motd", spec: { path: motd, content: "hello\n" } }],
        }),
      );
      const first = start();
      await until(status, (s) => motdState(s) === "Ready", 30_000, "motd Ready in KV");

      // The server goes away; then the resource breaks, so the agent has a status it cannot send.
      await server.pause();
      const mark = first.stdout.length;
      await rm(motd, { force: true });
      await mkdir(join(motd, "in-the-way"), { recursive: true });
      const failedAt = await logged(first, "reconcile failed", mark);
      await logged(first, "status write failed; retrying", failedAt);

      expect(await sigtermEndsWithin(first, STOPS_WITHIN_MS)).toBe(0);

      // The Failed status never reached the server: it still holds the Ready one.
      await server.resume();
      const before = await until(status, (s) => s !== undefined, 15_000, "actual-state readable");
      expect(motdState(before)).toBe("Ready");

      // After the next start it is recomputed (from the cached manifest) and written.
      const second = start();
      const after = await until(
        status,
        (s) => motdState(s) === "Failed",
        30_000,
        "motd Failed in KV after the restart",
      );
      expect(after?.revision).toBeGreaterThan(before?.revision ?? 0);
      expect(after?.status.observedGeneration).toBe(1);
      expect(await sigtermEndsWithin(second, STOPS_WITHIN_MS)).toBe(0);
    }, 120_000);

    it("a stop asked for during start-up ends the agent cleanly once it has started", async () => {
      // Many machines make start-up long enough for the signal to land inside it: after the
      // cached manifest is applied (logged) and before the machines are all loaded.
      const base = await tempDir("stop-during-start");
      const machines = join(base, "machines");
      for (let i = 0; i < 40; i++)
        await writeMachineDir(
          join(machines, `m${i}`),
          `name: m${i}\nversion: 1.0.0\ninitial_state: idle\ntransitions:\n  - {name: tick, from: [idle], destination: idle}\nwatchers:\n  - {name: marker, type: file, interval: 10s, properties: {path: marker}}\n`,
        );
      const args = ["run", "--config", configPath(), "--id", `${id}-early`];
      const flags = ["--state-dir", join(base, "state"), "--machines-dir", machines];
      await kv.put(
        desiredKey(`${id}-early`),
        encodeJson({
          generation: 1,
          resources: [
            { kind: "File", id: "early", spec: { path: join(root, "early"), content: "x\n" } },
          ],
        }),
      );
      // A first run leaves the manifest in the offline cache.
      const first = Cli.start([...args, ...flags]);
      running.push(first);
      await until(
        () => readFile(join(root, "early"), "utf8").catch(() => ""),
        (text) => text === "x\n",
        30_000,
        "the manifest applied (and so cached)",
      );
      expect(await sigtermEndsWithin(first, STOPS_WITHIN_MS)).toBe(0);

      const second = Cli.start([...args, ...flags]);
      running.push(second);
      await logged(second, "applying the cached manifest while the source is consulted");
      expect(await sigtermEndsWithin(second, STOPS_WITHIN_MS)).toBe(0);
      expect(second.stdout.some((line) => line.includes('"msg":"edge agent started"'))).toBe(true);
      expect(second.stdout.some((line) => line.includes('"msg":"stopping"'))).toBe(true);
    }, 60_000);

    it("stops within seconds when it has never reached its server", async () => {
      const stateDir = join(await tempDir("stop-offline"), "state");
      await server.pause();
      try {
        const cli = Cli.start([
          "run",
          "--config",
          configPath(),
          "--id",
          `${id}-offline`,
          "--state-dir",
          stateDir,
        ]);
        running.push(cli);
        // Its connection is being attempted, in vain, when the signal comes.
        await logged(cli, "edge agent started");
        expect(await sigtermEndsWithin(cli, STOPS_WITHIN_MS)).toBe(0);
      } finally {
        await server.resume();
      }
    }, 60_000);

    it("stops within seconds when its server accepts the connection but never speaks", async () => {
      // A load balancer with no NATS behind it: nats.js's dial times out and leaves the socket open.
      const sockets: Socket[] = [];
      const mute = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
      const { port } = mute.address() as AddressInfo;
      try {
        const cli = Cli.start([
          "run",
          "--config",
          configPath(),
          "--id",
          `${id}-mute`,
          "--state-dir",
          join(await tempDir("stop-mute"), "state"),
          "--nats",
          `nats://127.0.0.1:${port}`,
        ]);
        running.push(cli);
        await logged(cli, "edge agent started");
        await until(
          () => sockets.length,
          (n) => n > 0,
          10_000,
          "the agent's dial reached the mute server",
        );
        expect(await sigtermEndsWithin(cli, STOPS_WITHIN_MS)).toBe(0);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => mute.close(resolve));
      }
    }, 60_000);
  },
);
