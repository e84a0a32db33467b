import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { coreJsonSchemas } from "./core-schemas.js";
import { staleJsonSchemas, writeJsonSchemas } from "./json-schema.js";
import { repoSchemasDir } from "./paths.js";

describe("JSON Schemas", () => {
  it("the checked-in schemas match the zod schemas (run `npm run schemas` when this fails)", async () => {
    expect(await staleJsonSchemas(repoSchemasDir, coreJsonSchemas)).toEqual([]);
  });

  it("detects a stale or missing schema file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "schemas-"));
    const set = { "thing.schema.json": z.object({ a: z.string() }) };
    expect(await staleJsonSchemas(dir, set)).toEqual(["thing.schema.json"]);
    await writeJsonSchemas(dir, set);
    expect(await staleJsonSchemas(dir, set)).toEqual([]);
    await writeFile(join(dir, "thing.schema.json"), "{}");
    expect(await staleJsonSchemas(dir, set)).toEqual(["thing.schema.json"]);
  });

  it("the manifest schema describes the manifest wire format", async () => {
    const schema = JSON.parse(await readFile(join(repoSchemasDir, "manifest.schema.json"), "utf8"));
    expect(schema.required).toEqual(["generation", "resources"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.resources.items.required).toEqual(["kind", "id", "spec"]);
  });
});
