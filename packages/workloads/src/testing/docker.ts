import { execFileSync } from "node:child_process";
import { LABEL_OWNER } from "../driver.js";

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

/** Anything that lists and removes by label: a workload driver or the Docker engine client. */
interface Removable {
  list(labels: Record<string, string>): Promise<Array<{ id: string }>>;
  remove(id: string): Promise<void>;
}

/** Removes every workload a test owner left behind. */
export async function removeOwned(driver: Removable, owner: string): Promise<void> {
  for (const w of await driver.list({ [LABEL_OWNER]: owner })) await driver.remove(w.id);
}
