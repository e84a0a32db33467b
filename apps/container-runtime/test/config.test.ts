import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@org/reconcile-core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuntimeConfig } from "../src/config.js";

describe("container-runtime config: file, then CONTAINER_RUNTIME_*, then flags", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await tempDir("cr-config");
    file = join(dir, "runtime.yaml");
    await writeFile(
      file,
      "stateDir: /srv/file\nsecretsDir: /srv/secrets\napi: {port: 9000}\ndocker: {socketPath: /run/file.sock}\nlogLevel: debug\n",
    );
  });
  afterAll(() => rm(dir, { recursive: true }));

  it("defaults alone: loopback API on 7070, auto strategy, info logs", async () => {
    const config = await loadRuntimeConfig(undefined, {}, {});
    expect(config).toMatchObject({
      api: { host: "127.0.0.1", port: 7070, url: "http://127.0.0.1:7070" },
      strategy: "auto",
      logLevel: "info",
    });
    expect(config.stateDir).toMatch(/container-runtime$/);
  });

  it("each layer overrides the one before it, field by field", async () => {
    const config = await loadRuntimeConfig(
      file,
      { port: "9002", strategy: "process" },
      { CONTAINER_RUNTIME_STATE_DIR: "/srv/env", CONTAINER_RUNTIME_PORT: "9001" },
    );
    expect(config).toMatchObject({
      stateDir: "/srv/env",
      secretsDir: "/srv/secrets",
      api: { host: "127.0.0.1", port: 9002, url: "http://127.0.0.1:9002" },
      strategy: "process",
      docker: { socketPath: "/run/file.sock" },
      logLevel: "debug",
    });
  });

  it("--api names a remote supervisor; LOG_LEVEL applies below CONTAINER_RUNTIME_LOG_LEVEL", async () => {
    const remote = await loadRuntimeConfig(
      undefined,
      { api: "http://10.0.0.7:7070" },
      { LOG_LEVEL: "warn" },
    );
    expect(remote.api.url).toBe("http://10.0.0.7:7070");
    expect(remote.logLevel).toBe("warn");
    const both = await loadRuntimeConfig(
      undefined,
      {},
      { LOG_LEVEL: "warn", CONTAINER_RUNTIME_LOG_LEVEL: "error" },
    );
    expect(both.logLevel).toBe("error");
  });

  it("an invalid value is rejected naming the file and the field", async () => {
    await expect(loadRuntimeConfig(file, { port: "http" }, {})).rejects.toThrow(
      /invalid config \(.*runtime\.yaml, environment and flags\): api\.port: /,
    );
    await expect(
      loadRuntimeConfig(undefined, {}, { CONTAINER_RUNTIME_STRATEGY: "kubernetes" }),
    ).rejects.toThrow(/strategy: .*"auto"\|"docker"\|"process"/);
    await expect(loadRuntimeConfig(join(dir, "missing.yaml"), {}, {})).rejects.toThrow(
      /cannot read config file .*missing\.yaml: ENOENT/,
    );
  });
});
