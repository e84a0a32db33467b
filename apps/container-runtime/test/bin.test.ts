import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runNpx, tempDir } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";

const npx = (args: string[], options?: Parameters<typeof runNpx>[2]) =>
  runNpx("container-runtime", args, options);

describe("container-runtime on the PATH (npm links bin/container-runtime.js, nothing built)", () => {
  it("`npx container-runtime --help` works at the repository root", async () => {
    const { code, stdout, stderr } = await npx(["--help"]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Usage: container-runtime \[options\] \[command\]/);
    expect(stdout).toMatch(/^ {2}apply \[options\]/m);
  });

  it("file arguments are relative to the caller's directory", async () => {
    const { code, stdout, stderr } = await npx([
      "validate",
      "-f",
      "examples/agents/web.agent.yaml",
    ]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^examples\/agents\/web\.agent\.yaml: ok \(web /);
  });

  it("reads ./container-runtime.yaml from the caller's directory; environment and flags win over it", async () => {
    const dir = await tempDir("cr-bin");
    await writeFile(
      join(dir, "container-runtime.yaml"),
      "stateDir: from-file\napi: {port: 9000, host: 0.0.0.0}\nstrategy: process\n",
    );
    const { code, stdout, stderr } = await npx(["serve", "--port", "9002", "--print-config"], {
      cwd: dir,
      env: { ...process.env, CONTAINER_RUNTIME_STATE_DIR: "from-env" },
    });
    await rm(dir, { recursive: true });
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      stateDir: "from-env",
      strategy: "process",
      api: { host: "0.0.0.0", port: 9002, url: "http://127.0.0.1:9002" },
    });
  });
});
