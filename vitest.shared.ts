import { basename, resolve } from "node:path";
import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/**
 * One vitest setup for every workspace: sibling packages resolve to their TypeScript source
 * (the `source` export condition), so tests never need a build step, and each run writes a
 * JSON report that `.ci/run` adds up.
 */
export function workspaceTestConfig(dir: string, overrides: { testTimeout?: number } = {}) {
  const name = basename(dir);
  const reportDir = process.env.TEST_REPORT_DIR ?? resolve(dir, "../../reports");
  return defineConfig({
    resolve: { conditions: ["source", ...defaultServerConditions] },
    ssr: { resolve: { conditions: ["source", ...defaultServerConditions] } },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: overrides.testTimeout ?? 20_000,
      hookTimeout: 60_000,
      reporters: ["default", ["json", { outputFile: resolve(reportDir, `vitest-${name}.json`) }]],
      env: { LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" },
    },
  });
}
