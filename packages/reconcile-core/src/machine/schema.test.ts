import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { repoSchemasDir } from "../schemas/paths.js";
import { loadMachineText } from "./load.js";
import { builtinWatchers } from "./watchers/builtin.js";

const examplesDir = new URL("../../../../examples/machines/", import.meta.url).pathname;

async function editorValidator() {
  const schema = JSON.parse(await readFile(join(repoSchemasDir, "machine.schema.json"), "utf8"));
  return new Ajv2020({ allErrors: true, strict: false }).compile(schema);
}

describe("machine.schema.json (generated from the runtime's zod schemas)", () => {
  it("accepts every example machine, as the runtime does, and each starts with the schema comment", async () => {
    const validate = await editorValidator();
    const dirs = await readdir(examplesDir);
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) {
      const text = await readFile(join(examplesDir, dir, "machine.yaml"), "utf8");
      expect(text.split("\n")[0]).toBe(
        "# yaml-language-server: $schema=../../../schemas/machine.schema.json",
      );
      expect(validate(parseYaml(text)), `${dir}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(loadMachineText(text, builtinWatchers()).ok).toBe(true);
    }
  });

  it("is the --strict view: it rejects unknown keys (which the loader ignores with a warning, as Choria does) and wrong properties (which the loader refuses)", async () => {
    const validate = await editorValidator();
    const base = {
      name: "M",
      version: "1.0.0",
      initial_state: "a",
      transitions: [{ name: "t", from: ["a"], destination: "b" }],
      watchers: [{ name: "w", type: "timer", properties: { timer: "1m" } }],
    };
    const ignored = [
      { ...base, colour: "blue" },
      {
        ...base,
        watchers: [{ name: "w", type: "exec", properties: { command: "x", comand: "x" } }],
      },
    ];
    for (const doc of ignored) {
      expect(validate(doc), JSON.stringify(doc)).toBe(false);
      const loaded = loadMachineText(JSON.stringify(doc), builtinWatchers());
      expect(loaded.ok && loaded.warnings.length, JSON.stringify(doc)).toBe(1);
    }
    const refused = [
      { ...base, watchers: [{ name: "w", type: "timer", properties: { timer: "soon" } }] },
      { ...base, version: "v1" },
    ];
    for (const doc of refused) {
      expect(validate(doc), JSON.stringify(doc)).toBe(false);
      expect(loadMachineText(JSON.stringify(doc), builtinWatchers()).ok).toBe(false);
    }
  });
});
