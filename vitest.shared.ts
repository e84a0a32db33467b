import { basename, resolve } from "node:path";
import { defineConfig } from "vitest/config";

/**
 * One vitest setup for every workspace: sibling packages resolve to their TypeScript source
 * (the `source` export condition), so tests never need a build step, and each run writes a
 * JSON report that `.ci/run` adds up.
 */
export function workspaceTestConfig(dir: string, overrides: { testTimeout?: number } = {}) {
  const name = basename(dir);
  // Not Vite's default "module" condition: it selects bundler-only builds (the AWS SDK's
  // extensionless dist-es) that Node itself cannot load.
  const conditions = ["source", "node", "development|production"];
  const reportDir = process.env.TEST_REPORT_DIR ?? resolve(dir, "../../reports");
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: overrides.testTimeout ?? 20_000,
      hookTimeout: 60_000,
      reporters: ["default", ["json", { outputFile: resolve(reportDir, `vitest-${name}.json`) }]],
      env: { LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" },
    },
  });
}
