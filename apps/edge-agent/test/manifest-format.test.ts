import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir, until } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { useLocalAgents } from "./local-agent.js";
import { readManifestDocument, withGeneration } from "../src/manifest-document.js";

const agentIn = useLocalAgents();

const read = (path: string) => readFile(path, "utf8").catch(() => undefined);

describe("one manifest format: `run --manifest` takes what `apply -f` takes", () => {
  it("a local manifest file without `generation` is applied, and a changed one replaces it", async () => {
    const dir = await tempDir("manifest-format");
    const manifest = join(dir, "manifest.yaml");
    const root = join(dir, "root");
    const motd = (content: string) => ({
      resources: [{ kind: "File", id: "motd", spec: { path: join(root, "motd"), content } }],
    });
    await writeFile(manifest, stringify(motd("first\n")));
    const { agent } = await agentIn(dir, { source: { type: "file", path: manifest } });
    await agent.start();
    await until(
      () => read(join(root, "motd")),
      (c) => c === "first\n",
      10_000,
      "motd written",
    );
    expect(agent.status()).toMatchObject({ manifestGeneration: 1 });
    expect(agent.status().conditions.some((c) => c.type === "ManifestRejected")).toBe(false);

    await writeFile(manifest, stringify(motd("second\n")));
    await until(
      () => read(join(root, "motd")),
      (c) => c === "second\n",
      10_000,
      "motd rewritten",
    );
    expect(agent.status().manifestGeneration).toBe(2);
  });

  it("a restart re-reading the unchanged file applies nothing again (same generation)", () => {
    const doc = readManifestDocument("resources: []\n", "m.yaml");
    if (!doc.ok) throw new Error(doc.message);
    const first = withGeneration(doc.document, undefined);
    expect(first.generation).toBe(1);
    expect(withGeneration(doc.document, first).generation).toBe(1);
    expect(
      withGeneration({ resources: [{ kind: "File", id: "a", spec: {} }] }, first).generation,
    ).toBe(2);
    // A generation written in the file is kept.
    const given = readManifestDocument("generation: 9\nresources: []\n", "m.yaml");
    expect(given.ok && withGeneration(given.document, first).generation).toBe(9);
  });

  it("refuses what is not a manifest, naming the file", () => {
    expect(readManifestDocument("- a\n- b\n", "m.yaml")).toMatchObject({
      ok: false,
      message:
        "m.yaml: a manifest is a mapping with `resources` (and optionally `generation`), not a list",
    });
    expect(readManifestDocument("resources: [{kind: File}]\n", "m.yaml")).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/^m\.yaml: invalid manifest: resources\[0\]\.id: /),
    });
  });
});

describe("the agent's status after a rejected manifest", () => {
  it("does not say Ready while the last manifest offered was rejected", async () => {
    const dir = await tempDir("rejected");
    const { agent } = await agentIn(dir, { trust: { keys: [], requireSignature: true } });
    await agent.start();
    await agent.receiveText("generation: 1\nresources: []\n", "desired-state.pi-test@3");
    const conditions = agent.status().conditions;
    expect(conditions.find((c) => c.type === "ManifestRejected")).toMatchObject({
      status: "True",
      reason: "SignatureRequired",
    });
    expect(conditions.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "ManifestRejected",
    });
  });
});
