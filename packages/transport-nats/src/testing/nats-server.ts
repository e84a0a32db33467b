import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The nats-server binary: `NATS_SERVER_BIN`, else `nats-server` on PATH. */
export const natsServerBin = process.env.NATS_SERVER_BIN ?? "nats-server";

export function natsServerAvailable(): boolean {
  try {
    execFileSync(natsServerBin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether NATS-backed tests should run: yes when nats-server is installed; when it is not,
 * they are skipped locally but fail in CI (`CI=true`), where a missing service is a failure.
 */
export function shouldRunNatsTests(): boolean {
  return natsServerAvailable() || process.env.CI === "true";
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A real nats-server with JetStream on a free loopback port, with its own store, that a test can stop and start. */
export class TestNatsServer {
  readonly port: number;
  readonly storeDir: string;
  #process?: ChildProcess;

  readonly #args: string[];

  private constructor(port: number, storeDir: string, args: string[]) {
    this.port = port;
    this.storeDir = storeDir;
    this.#args = args;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `args` are extra nats-server flags, e.g. `["--user", "u", "--pass", "p"]`. */
  static async start(args: string[] = []): Promise<TestNatsServer> {
    const server = new TestNatsServer(
      await freePort(),
      await mkdtemp(join(tmpdir(), "nats-js-")),
      args,
    );
    await server.resume();
    return server;
  }

  /** Starts (again) on the same port and store: JetStream data survives. */
  async resume(): Promise<void> {
    if (this.#process) return;
    const child = spawn(
      natsServerBin,
      ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.storeDir, ...this.#args],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.#process = child;
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
    const deadline = Date.now() + 15_000;
    while (!log.includes("Server is ready")) {
      if (child.exitCode !== null)
        throw new Error(`nats-server exited with ${child.exitCode}: ${log}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not start within 15 s: ${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stops the server (SIGTERM, then waits for exit). */
  async pause(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    this.#process = undefined;
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}
