// Adds up the vitest JSON reports in reports/ and prints the closing line CI reads:
// "N passed, N failed" (", N skipped" when any). Exits 1 when a test failed or a workspace
// that has tests wrote no report (it crashed before reporting).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const reportDir = process.env.TEST_REPORT_DIR ?? join(root, "reports");
const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const pattern of rootPackage.workspaces) {
  const base = join(root, pattern.replace("/*", ""));
  if (!existsSync(base)) continue;
  for (const name of readdirSync(base)) {
    const pkgPath = join(base, name, "package.json");
    if (!existsSync(pkgPath)) continue;
    if (!JSON.parse(readFileSync(pkgPath, "utf8")).scripts?.test) continue;
    const report = join(reportDir, `vitest-${name}.json`);
    if (!existsSync(report)) {
      missing.push(name);
      continue;
    }
    const r = JSON.parse(readFileSync(report, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
    // A file that failed to load has no tests counted; count it as one failure.
    failed += r.testResults.filter(
      (f) => f.status === "failed" && f.assertionResults.length === 0,
    ).length;
  }
}
for (const name of missing)
  console.log(`no test report from ${name}: its test run crashed or did not start`);
failed += missing.length;
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
