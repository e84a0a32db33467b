import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runNpx } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";

const npx = (args: string[], options?: Parameters<typeof runNpx>[2]) =>
  runNpx("edge-agent", args, options);

describe("edge-agent on the PATH (npm links bin/edge-agent.js, nothing built)", () => {
  it("`npx edge-agent --help` works at the repository root", async () => {
    const { code, stdout, stderr } = await npx(["--help"]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^Usage: edge-agent \[options\] \[command\]/);
    expect(stdout).toMatch(/^ {2}machine\b/m);
  });

  it("file arguments are relative to the caller's directory", async () => {
    const { code, stdout, stderr } = await npx([
      "machine",
      "validate",
      "examples/machines/container-manager",
    ]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^examples\/machines\/container-manager: ok \(ContainerManager /);
  });

  it("every app's CLI prints its package.json version with --version", async () => {
    for (const app of ["edge-agent", "container-runtime"]) {
      const { version } = JSON.parse(
        await readFile(join(REPO_ROOT, "apps", app, "package.json"), "utf8"),
      ) as { version: string };
      const { code, stdout, stderr } = await runNpx(app, ["--version"]);
      expect(code, stderr).toBe(0);
      expect(stdout.trim(), app).toBe(version);
    }
  });
});
