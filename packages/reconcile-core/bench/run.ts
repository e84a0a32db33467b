import { benchController } from "./controller.bench.js";
import { runSuites } from "@org/reconcile-core/bench";

/** `npm run bench -w @org/reconcile-core [-- controller]`. */
await runSuites({ controller: benchController });
