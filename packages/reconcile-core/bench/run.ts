import { benchController } from "./controller.bench.js";
import { runSuites } from "./table.js";

/** `npm run bench -w @org/reconcile-core [-- controller]`. */
await runSuites({ controller: benchController });
