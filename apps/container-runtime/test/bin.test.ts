import { execFile } from "node:child_process";
import { access, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { tempDir } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const bin = join(root, "node_modules/.bin/container-runtime");

/**
 * The command as a user types it. Only once the link is there: a missing one would send npx to
 * the registry for a package of that name.
 */
const npx = async (args: string[], cwd = root) => {
  await access(bin).catch(() => {
    throw new Error(`${bin} is missing: npm did not link the workspace's bin (run npm install)`);
  });
  return promisify(execFile)("npx", ["container-runtime", ...args], { cwd }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
};

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
    const { code, stdout } = await promisify(execFile)(
      bin,
      ["serve", "--port", "9002", "--print-config"],
      { cwd: dir, env: { ...process.env, CONTAINER_RUNTIME_STATE_DIR: "from-env" } },
    ).then((r) => ({ code: 0, ...r }));
    await rm(dir, { recursive: true });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      stateDir: "from-env",
      strategy: "process",
      api: { host: "0.0.0.0", port: 9002, url: "http://127.0.0.1:9002" },
    });
  });
});
