import { fileURLToPath } from "node:url";

/** The repository's `schemas/` folder, where generated JSON Schemas are checked in. */
export const repoSchemasDir = fileURLToPath(new URL("../../../../schemas/", import.meta.url));
