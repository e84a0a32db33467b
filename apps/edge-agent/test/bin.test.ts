import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const bin = join(root, "node_modules/.bin/edge-agent");

/**
 * The command as a user types it. Only once the link is there: a missing one would send npx to
 * the registry for a package of that name.
 */
const npx = async (args: string[], cwd = root) => {
  await access(bin).catch(() => {
    throw new Error(`${bin} is missing: npm did not link the workspace's bin (run npm install)`);
  });
  return promisify(execFile)("npx", ["edge-agent", ...args], { cwd }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
};

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
