// `npm run bundle -w edge-agent`: the agent and every dependency in one file, dist/edge-agent.mjs
// (or the file named as the first argument), for devices: `node edge-agent.mjs run -c agent.yaml`,
// no node_modules. Built from the sources of the workspace packages: no `npm run build` first.
import { resolve } from "node:path";
import { build } from "esbuild";

const outfile = process.argv[2]
  ? resolve(process.argv[2])
  : new URL("../dist/edge-agent.mjs", import.meta.url).pathname;

const result = await build({
  entryPoints: [new URL("../src/cli.ts", import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  conditions: ["source"],
  minify: true,
  // Modules reached only by `await import()` (Docker, NATS, the commands) stay unevaluated in
  // the bundle until called for, as in dist/.
  splitting: false,
  // Optional native add-ons of ssh2 (under dockerode): without them it uses its JavaScript code.
  external: ["cpu-features", "*.node"],
  // CommonJS dependencies (pino, dockerode, prom-client) call require() for Node's own modules,
  // and some (under dockerode) read __dirname at load.
  banner: {
    js: [
      "import { createRequire as __edgeAgentRequire } from 'node:module';",
      "import { dirname as __edgeAgentDirname } from 'node:path';",
      "import { fileURLToPath as __edgeAgentPath } from 'node:url';",
      "const require = __edgeAgentRequire(import.meta.url);",
      "const __filename = __edgeAgentPath(import.meta.url);",
      "const __dirname = __edgeAgentDirname(__filename);",
    ].join(" "),
  },
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`${outfile}: ${(bytes / 2 ** 20).toFixed(2)} MiB`);
