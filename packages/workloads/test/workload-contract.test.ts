import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe } from "vitest";
import { dockerDriver } from "../src/drivers/docker/driver.js";
import { processDriver } from "../src/drivers/process/driver.js";
import { shouldRunDockerTests, TEST_IMAGE } from "../src/testing/docker.js";
import { describeWorkloadContract } from "../src/testing/workload-contract.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describeWorkloadContract("process", {
  driver: async () => {
    const dir = await mkdtemp(join(tmpdir(), "workloads-process-"));
    dirs.push(dir);
    return processDriver({ dir });
  },
  spec: (script, lifecycle) => ({ command: ["sh", "-c", script], ...lifecycle }),
});

describe.runIf(shouldRunDockerTests())("real Docker engine", () => {
  describeWorkloadContract("docker", {
    driver: () => dockerDriver(),
    spec: (script, lifecycle) => ({
      image: TEST_IMAGE,
      command: ["sh", "-c", script],
      ...lifecycle,
    }),
  });
});
