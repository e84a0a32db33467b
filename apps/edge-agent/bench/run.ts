import { runSuites } from "@org/reconcile-core/bench";
import { benchFleet } from "./fleet.bench.js";
import { benchFootprint } from "./footprint.bench.js";
import { benchMachines } from "./machines.bench.js";

/** `npm run bench -w edge-agent [-- machines|fleet|footprint]`: every suite by default. */
await runSuites({ machines: benchMachines, fleet: benchFleet, footprint: benchFootprint });
process.exit(0);
