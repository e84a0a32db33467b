import { cpus } from "node:os";
import { benchFleet } from "./fleet.bench.js";
import { benchMachines } from "./machines.bench.js";

/** `npm run bench -w edge-agent [-- machines|fleet]`: every suite by default. */
const suites: Record<string, () => Promise<void>> = { machines: benchMachines, fleet: benchFleet };
const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  const suite = suites[name];
  if (!suite)
    throw new Error(`unknown bench suite '${name}'; known: ${Object.keys(suites).join(", ")}`);
  await suite();
}
console.log(
  `\n${new Date().toISOString()} node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "unknown cpu"}`,
);
process.exit(0);
