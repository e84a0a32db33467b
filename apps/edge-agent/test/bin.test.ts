import { runNpx } from "@org/reconcile-core/testing";
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
});
