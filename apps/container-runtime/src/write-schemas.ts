import { writeJsonSchemas } from "@org/reconcile-core/internal";
import { agentJsonSchemas, schemasDir } from "./schemas.js";

for (const path of await writeJsonSchemas(schemasDir, agentJsonSchemas))
  console.log(`wrote ${path}`);
