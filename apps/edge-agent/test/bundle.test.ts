import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir, until } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";

const bundleScript = new URL("../scripts/bundle.mjs", import.meta.url).pathname;

describe("the one-file bundle devices run", () => {
  it("bundles, then runs the agent from that file alone, Docker on: a manifest applied, a clean stop", async () => {
    const dir = await tempDir("bundle");
    const bundle = join(dir, "edge-agent.mjs");
    await promisify(execFile)(process.execPath, [bundleScript, bundle], { timeout: 60_000 });
    const root = join(dir, "root");
    await mkdir(join(dir, "machines", "m"), { recursive: true });
    await writeFile(
      join(dir, "machines", "m", "machine.yaml"),
      'name: M\nversion: 1.0.0\ninitial_state: idle\ntransitions:\n  - {name: tick, from: [idle], destination: idle}\nwatchers:\n  - {name: check, type: exec, interval: 30s, properties: {command: "true"}}\n',
    );
    await writeFile(
      join(dir, "agent.yaml"),
      JSON.stringify({
        id: "bundled",
        allowedRoots: [root],
        stateDir: join(dir, "state"),
        machinesDir: join(dir, "machines"),
        // Docker on, so its client is bundled and started too (dockerode's dependencies are CommonJS).
        docker: { enabled: true },
        systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
      }),
    );
    await writeFile(
      join(dir, "manifest.yaml"),
      `generation: 1\nresources:\n  - {kind: File, id: f, spec: {path: ${join(root, "f")}, content: bundled}}\n`,
    );
    // From a directory with no node_modules above it: the bundle needs nothing beside itself.
    const child = spawn(
      process.execPath,
      [bundle, "run", "-c", join(dir, "agent.yaml"), "--manifest", join(dir, "manifest.yaml")],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const keep = (d: Buffer) => {
      output += d.toString();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    try {
      await until(
        () => readFile(join(root, "f"), "utf8").catch(() => undefined),
        (text) => text === "bundled",
        30_000,
        "the File resource written by the bundled agent",
      );
      // Stopped once running (the signal handler is set when start() returns).
      await until(
        () => output,
        (text) => text.includes("edge agent started"),
        30_000,
        "the bundled agent started",
      );
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output).toBe(0);
    expect(output).toContain("machine started");
  }, 90_000);
});
