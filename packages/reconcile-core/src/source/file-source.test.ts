import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../resource/manifest.js";
import { FileStateSource } from "./file-source.js";
import type { StateUpdate } from "./state-source.js";

let dir: string;
let source: FileStateSource | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-source-"));
});
afterEach(async () => {
  await source?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function next(updates: StateUpdate<Manifest>[], count: number, ms = 5_000) {
  const end = Date.now() + ms;
  while (updates.length < count) {
    if (Date.now() > end)
      throw new Error(`got ${updates.length} of ${count} updates: ${JSON.stringify(updates)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return updates[count - 1]!;
}

/** Writes as careful tools do: a temporary file renamed over the target, so no reader sees half a file. */
async function replace(path: string, text: string) {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

const yaml = (generation: number) =>
  `generation: ${generation}\nresources:\n  - kind: File\n    id: motd\n    spec: { path: /etc/motd }\n`;

describe("FileStateSource", () => {
  it("delivers the file's manifest at start, then each change", async () => {
    const path = join(dir, "manifest.yaml");
    await writeFile(path, yaml(1));
    const updates: StateUpdate<Manifest>[] = [];
    source = new FileStateSource({ path, pollIntervalMs: 10_000 });
    await source.start((u) => updates.push(u));
    expect(updates[0]).toMatchObject({ type: "desired", value: { generation: 1 }, origin: path });

    // An atomic replace (write a temp file, rename over) as editors and config tools do.
    await replace(path, yaml(2));
    expect(await next(updates, 2)).toMatchObject({ type: "desired", value: { generation: 2 } });
  });

  it("reports a parse error once and keeps the last good manifest", async () => {
    const path = join(dir, "manifest.json");
    await writeFile(path, JSON.stringify({ generation: 1, resources: [] }));
    const updates: StateUpdate<Manifest>[] = [];
    source = new FileStateSource({ path, pollIntervalMs: 30 });
    await source.start((u) => updates.push(u));
    await replace(path, '{"generation": 2, "resources": [');
    const error = await next(updates, 2);
    expect(error).toMatchObject({ type: "error", error: { code: "parse", origin: path } });
    expect(source.current).toMatchObject({ generation: 1 });
    // Several checks of the same broken file, as the poll would make: still one error.
    for (let i = 0; i < 3; i++) await source.check();
    expect(updates).toHaveLength(2);

    await replace(
      path,
      JSON.stringify({
        generation: 2,
        resources: [
          { kind: "File", id: "a", spec: {} },
          { kind: "File", id: "a", spec: {} },
        ],
      }),
    );
    const invalid = await next(updates, 3);
    expect(invalid).toMatchObject({ type: "error", error: { code: "invalid" } });
    if (invalid.type === "error")
      expect(invalid.error.message).toContain("duplicate resource ids: a");

    await replace(path, JSON.stringify({ generation: 3, resources: [] }));
    expect(await next(updates, 4)).toMatchObject({ type: "desired", value: { generation: 3 } });
    expect(source.current).toMatchObject({ generation: 3 });
  });

  it("reports a missing file and picks it up when it appears", async () => {
    const path = join(dir, "later.yaml");
    const updates: StateUpdate<Manifest>[] = [];
    source = new FileStateSource({ path, pollIntervalMs: 30 });
    await source.start((u) => updates.push(u));
    expect(updates[0]).toMatchObject({
      type: "error",
      error: { code: "read", message: `manifest file ${path} does not exist` },
    });
    await writeFile(path, yaml(7));
    expect(await next(updates, 2)).toMatchObject({ type: "desired", value: { generation: 7 } });
  });
});
