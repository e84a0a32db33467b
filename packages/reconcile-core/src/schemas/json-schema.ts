import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

/** JSON Schema documents by file name, generated from the zod schemas the runtime validates with. */
export type JsonSchemaSet = Record<string, z.ZodType>;

/**
 * Renders one zod schema as a JSON Schema (draft 2020-12) document. `io: "input"` describes
 * what a person writes: fields with defaults are optional.
 */
export function renderJsonSchema(fileName: string, schema: z.ZodType): string {
  const document = {
    title: fileName.replace(/\.schema\.json$/, ""),
    ...z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Writes every schema of `set` into `dir`; returns the files written. */
export async function writeJsonSchemas(dir: string, set: JsonSchemaSet): Promise<string[]> {
  const written: string[] = [];
  for (const [fileName, schema] of Object.entries(set)) {
    const path = join(dir, fileName);
    await writeFile(path, renderJsonSchema(fileName, schema));
    written.push(path);
  }
  return written;
}

/** Files of `set` in `dir` that are missing or differ from what the zod schemas generate now. */
export async function staleJsonSchemas(dir: string, set: JsonSchemaSet): Promise<string[]> {
  const stale: string[] = [];
  for (const [fileName, schema] of Object.entries(set)) {
    const current = await readFile(join(dir, fileName), "utf8").catch(() => undefined);
    if (current !== renderJsonSchema(fileName, schema)) stale.push(fileName);
  }
  return stale;
}
