import { benchController } from "./controller.bench.js";

/** `npm run bench -w @org/reconcile-core [-- controller|machines]`: all suites by default. */
const suites: Record<string, () => Promise<void>> = { controller: benchController };
const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  const suite = suites[name];
  if (!suite)
    throw new Error(`unknown bench suite '${name}'; known: ${Object.keys(suites).join(", ")}`);
  await suite();
}
console.log(
  `\n${new Date().toISOString()} node ${process.version}, ${(await import("node:os")).cpus()[0]?.model ?? "unknown cpu"}`,
);
