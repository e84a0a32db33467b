import { writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { tempDir } from "@org/reconcile-core/testing";
import { shouldRunNatsTests, TestNatsServer } from "@org/transport-nats/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONNECT_TIMEOUT_MS } from "../src/commands/connect.js";
import { Cli } from "./cli.js";

/** How long an operator command may take to fail: the CLI's start-up plus a refused or unresolved connection. */
const ENDS_WITHIN_MS = 10_000;

interface Ended {
  code: number | null;
  stdout: string[];
  stderr: string[];
}

/**
 * Runs `edge-agent args...` and fails if it has not ended within `ms`, killing it: these
 * commands used to wait for NATS forever.
 */
async function runWithin(args: string[], ms: number, env?: NodeJS.ProcessEnv): Promise<Ended> {
  const cli = Cli.start(args, env);
  // "close", not "exit": every line of output has been read by then.
  const closed = new Promise<number | null>((resolve) => cli.process.once("close", resolve));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    closed,
    new Promise<"running">((resolve) => {
      timer = setTimeout(() => resolve("running"), ms);
    }),
  ]);
  clearTimeout(timer);
  if (code === "running") {
    await cli.stop("SIGKILL");
    throw new Error(
      `edge-agent ${args.join(" ")} was still running after ${ms} ms; stdout:\n${cli.stdout.join("\n")}\nstderr:\n${cli.stderr.join("\n")}`,
    );
  }
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let manifest: string;
let refused: string;
const unresolvable = "nats://no.such.host.invalid:4222";

beforeAll(async () => {
  manifest = join(await tempDir("unreachable"), "manifest.yaml");
  await writeFile(manifest, "resources: []\n");
  refused = `nats://127.0.0.1:${await closedPort()}`;
});

/** The four operator commands; `json` says whether the command takes `--json`. */
const commands = [
  { name: "status", args: () => ["status", "pi-1"], json: true },
  { name: "apply", args: () => ["apply", "--agent", "pi-1", "-f", manifest], json: false },
  { name: "fleet", args: () => ["fleet"], json: true },
  { name: "machine watch", args: () => ["machine", "watch"], json: true },
];

const cases = [
  ...commands.map((c) => ({ ...c, mode: "text" })),
  ...commands.filter((c) => c.json).map((c) => ({ ...c, mode: "--json" })),
];

describe.each([
  { target: "a closed loopback port", url: () => refused, why: /connection refused/ },
  { target: "an unresolvable host name", url: () => unresolvable, why: /does not resolve/ },
])("operator commands with NATS at $target", ({ url, why }) => {
  it.each(cases)("$name ($mode) fails at once, naming the server", async (c) => {
    const args = [...c.args(), "--nats", url(), ...(c.mode === "--json" ? ["--json"] : [])];
    const { code, stdout, stderr } = await runWithin(args, ENDS_WITHIN_MS);
    expect(code, stderr.join("\n")).toBe(1);
    const message = stderr.join("\n");
    expect(message).toContain(`cannot connect to NATS at ${url()}`);
    expect(message).toMatch(why);
    expect(message).toMatch(/nats-server runs there.*--nats or NATS_URL.*EDGE_AGENT_NATS_URL/);
    expect(message).toContain("The URL was given with --nats.");
    if (c.mode === "text") {
      expect(stdout).toEqual([]);
      return;
    }
    const lines = stdout.filter(Boolean);
    // `machine watch --json` prints JSON lines, so its error is one line too.
    if (c.name === "machine watch") expect(lines).toHaveLength(1);
    expect(JSON.parse(lines.join("\n"))).toEqual({
      error: "NatsUnreachable",
      message: expect.stringContaining(`cannot connect to NATS at ${url()}`),
      details: { servers: url(), timeoutMs: CONNECT_TIMEOUT_MS },
    });
  });
});

describe("where the NATS URL came from", () => {
  it("says so when NATS_URL chose the server", async () => {
    const { code, stderr } = await runWithin(["status", "pi-1"], ENDS_WITHIN_MS, {
      NATS_URL: refused,
    });
    expect(code).toBe(1);
    expect(stderr.join("\n")).toContain(`cannot connect to NATS at ${refused}: connection refused`);
    expect(stderr.join("\n")).toContain("The URL comes from NATS_URL.");
  });
});

describe("a server that accepts the connection but never speaks NATS", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("fails after the connect timeout, naming the server", async () => {
    const url = `nats://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const { code, stdout, stderr } = await runWithin(
      ["status", "pi-1", "--json", "--nats", url],
      CONNECT_TIMEOUT_MS + ENDS_WITHIN_MS,
    );
    expect(code).toBe(1);
    expect(stderr.join("\n")).toContain(
      `cannot connect to NATS at ${url}: no NATS answer within ${CONNECT_TIMEOUT_MS} ms`,
    );
    expect(JSON.parse(stdout.join("\n"))).toMatchObject({ error: "NatsUnreachable" });
  });
});

describe.runIf(shouldRunNatsTests())("a server that refuses the token", () => {
  let server: TestNatsServer;
  beforeAll(async () => {
    server = await TestNatsServer.start(["--auth", "s3cret"]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each([
    { name: "status", args: ["status", "pi-1"] },
    { name: "machine watch", args: ["machine", "watch"] },
  ])("$name says so and points at the token, not the URL", async ({ args }) => {
    const { code, stdout, stderr } = await runWithin(
      [...args, "--json", "--nats", server.url, "--token", "wrong"],
      ENDS_WITHIN_MS,
    );
    expect(code).toBe(1);
    expect(stderr.join("\n")).toContain(
      `cannot connect to NATS at ${server.url}: Authorization Violation. Check the token: --token or NATS_TOKEN`,
    );
    expect(stderr.join("\n")).not.toContain("wrong");
    expect(JSON.parse(stdout.join("\n"))).toMatchObject({ error: "NatsAuthFailed" });
  });
});

describe.runIf(shouldRunNatsTests())("status of an agent that never reported", () => {
  let server: TestNatsServer;
  beforeAll(async () => {
    server = await TestNatsServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("is a JSON error under --json, and a line on stderr without it", async () => {
    const json = await runWithin(
      ["status", "nobody", "--json", "--nats", server.url],
      ENDS_WITHIN_MS,
    );
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout.join("\n"))).toEqual({
      error: "NoStatus",
      message: expect.stringContaining("no status from nobody yet"),
      details: { agent: "nobody", bucket: "fleet", key: "actual-state.nobody" },
    });

    const text = await runWithin(["status", "nobody", "--nats", server.url], ENDS_WITHIN_MS);
    expect(text.code).toBe(1);
    expect(text.stdout).toEqual([]);
    expect(text.stderr.join("\n")).toMatch(
      /no status from nobody yet: actual-state\.nobody in bucket fleet is empty\. Check the agent id/,
    );
  });
});
