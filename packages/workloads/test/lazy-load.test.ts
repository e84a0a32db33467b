import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/** Imports `specifier` in a fresh Node process and returns which heavy backend modules got loaded. */
async function heavyModulesLoadedBy(specifier: string): Promise<string[]> {
  // dockerode and the AWS SDK are CommonJS, so loading them (even from ESM) fills require.cache.
  const script = `
    import { createRequire } from "node:module";
    const m = await import(${JSON.stringify(specifier)});
    if (Object.keys(m).length === 0) throw new Error("nothing exported");
    const loaded = Object.keys(createRequire(import.meta.url).cache)
      .map((p) => p.match(/node_modules\\/((@aws-sdk\\/[^/]+)|dockerode|docker-modem)\\//)?.[1])
      .filter(Boolean);
    console.log(JSON.stringify([...new Set(loaded)].sort()));
  `;
  const { stdout } = await run(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", script],
    { cwd: import.meta.dirname, timeout: 30_000 },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
}

describe("heavy drivers load only when used", () => {
  it("importing @org/workloads loads neither dockerode nor the AWS SDK", async () => {
    expect(await heavyModulesLoadedBy("@org/workloads")).toEqual([]);
  });

  it("the check sees dockerode when the Docker engine entry is imported", async () => {
    expect(await heavyModulesLoadedBy("@org/workloads/docker")).toContain("dockerode");
  });
});
