import { coreJsonSchemas } from "./core-schemas.js";
import { writeJsonSchemas } from "./json-schema.js";
import { repoSchemasDir } from "./paths.js";

for (const path of await writeJsonSchemas(repoSchemasDir, coreJsonSchemas))
  console.log(`wrote ${path}`);
