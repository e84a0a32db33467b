import { execFileSync } from "node:child_process";
import type { DockerDriver } from "../driver.js";

/** The local test image `npm run services` builds (busybox-static: sh, httpd, nc, sleep, ...). */
export const TEST_IMAGE = process.env.TEST_IMAGE ?? "fleet-test/busybox:latest";

/** Docker-backed tests run when the engine answers; without one they are skipped locally and fail in CI. */
export function shouldRunDockerTests(): boolean {
  if (process.env.CI === "true") return true;
  try {
    execFileSync("docker", ["info"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** Removes every container a test owner left behind. */
export async function removeOwned(driver: DockerDriver, owner: string): Promise<void> {
  for (const c of await driver.list({ "org.reconcile.owner": owner })) await driver.remove(c.id);
}
