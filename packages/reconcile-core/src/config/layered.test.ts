import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, layerFrom, maskSecrets, readConfigFile, resolveConfig } from "./layered.js";

const Schema = z
  .object({
    id: z.string(),
    nats: z.object({ servers: z.string(), token: z.string().optional() }).strict().optional(),
    resyncMs: z.number().default(60_000),
    roots: z.array(z.string()).default([]),
  })
  .strict();

describe("layered configuration", () => {
  it("takes flags over environment over file, merging objects", async () => {
    const dir = await mkdtemp(join(tmpdir(), "config-"));
    await writeFile(
      join(dir, "agent.yaml"),
      "id: from-file\nnats: {servers: nats://file:4222, token: t0k3n}\nroots: [/a]\n",
    );
    const file = await readConfigFile(join(dir, "agent.yaml"));
    const env = layerFrom([
      ["nats.servers", "nats://env:4222"],
      ["id", undefined],
    ]);
    const flags = layerFrom([
      ["id", "from-flag"],
      ["roots", ["/b", "/c"]],
    ]);
    expect(resolveConfig(Schema, [file, env, flags])).toEqual({
      id: "from-flag",
      nats: { servers: "nats://env:4222", token: "t0k3n" },
      resyncMs: 60_000,
      roots: ["/b", "/c"],
    });
  });

  it("names the invalid field and the bad file", async () => {
    expect(() => resolveConfig(Schema, [{ id: 5 }], "agent config")).toThrow(
      "invalid agent config: id: ",
    );
    expect(() => resolveConfig(Schema, [{ id: "x", colour: "red" }])).toThrow(/colour/);
    await expect(readConfigFile("/nonexistent/agent.yaml")).rejects.toThrow(ConfigError);
    const dir = await mkdtemp(join(tmpdir(), "config-"));
    await writeFile(join(dir, "bad.yaml"), "id: [");
    await expect(readConfigFile(join(dir, "bad.yaml"))).rejects.toThrow(
      /bad.yaml is not valid YAML/,
    );
  });

  it("masks secrets for printing", () => {
    expect(
      maskSecrets({
        id: "a",
        nats: { servers: "s", token: "t0k3n", pass: "p" },
        keys: [{ privateKey: "k" }],
      }),
    ).toEqual({
      id: "a",
      nats: { servers: "s", token: "********", pass: "********" },
      keys: [{ privateKey: "********" }],
    });
  });
});
