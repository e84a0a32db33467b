import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliProcess } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixture", import.meta.url));
const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));

describe("@org/cli in a real process", () => {
  it("a closed stdout (`| head -1`) ends the command quietly with code 0, no EPIPE trace", async () => {
    const child = spawn(tsx, ["--conditions=source", "src/cli.ts", "flood"], {
      cwd: fixture,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Read the first chunk, then hang up, as `head -1` does.
    const first = await new Promise<string>((resolve) =>
      child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString())),
    );
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(first).toMatch(/^line 0\n/);
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("a closed stderr (`2>&1 | head -1`) ends the command quietly too", async () => {
    const child = spawn(tsx, ["--conditions=source", "src/cli.ts", "flood-stderr"], {
      cwd: fixture,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const first = await new Promise<string>((resolve) =>
      child.stderr.once("data", (chunk: Buffer) => resolve(chunk.toString())),
    );
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(first).toMatch(/^line 0\n/);
    expect(code).toBe(0);
  });

  it("--version prints the version of the app's package.json", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL("../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const { code, stdout } = await CliProcess.run(fixture, [flag]);
      expect(code).toBe(0);
      expect(stdout[0]).toBe(version);
    }
  });

  it("under --json every failure is also one line of JSON on stdout: usage errors too", async () => {
    const failed = await CliProcess.run(fixture, ["fail", "3", "--json"]);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toEqual(["demo: the thing is broken: fix it"]);
    expect(failed.stdout.map((l) => JSON.parse(l))).toEqual([
      { error: "ThingBroken", message: "the thing is broken: fix it", details: { code: "3" } },
    ]);
    const usage = await CliProcess.run(fixture, ["fail", "--json"]);
    expect(usage.code).not.toBe(0);
    expect(JSON.parse(usage.stdout.join("\n"))).toMatchObject({
      error: "UsageError",
      message: "missing required argument 'code'",
    });
    // Without --json, stdout stays empty.
    expect((await CliProcess.run(fixture, ["fail", "3"])).stdout).toEqual([]);
  });

  it("waitForSignal resolves on SIGTERM so the command stops cleanly", async () => {
    const cli = new CliProcess(fixture, ["wait"]);
    await cli.line(/^ready$/);
    // "close", not "exit": the last line may still be in the pipe when the process is gone.
    const closed = new Promise((resolve) => cli.process.once("close", resolve));
    const code = await cli.stop("SIGTERM");
    await closed;
    expect(cli.stdout).toContain("stopping on SIGTERM");
    expect(code).toBe(0);
  });

  it("a CliError prints `name: message` with its exit code; any other error exits 2", async () => {
    const failed = await CliProcess.run(fixture, ["fail", "3"]);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toEqual(["demo: the thing is broken: fix it"]);
    const crashed = await CliProcess.run(fixture, ["crash"]);
    expect(crashed.code).toBe(2);
    expect(crashed.stderr).toEqual(["demo: unexpected"]);
  });
});
