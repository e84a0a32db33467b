/**
 * The core on its own: a manifest of files in a temporary folder, converged by the controller,
 * changed, tampered with, and repaired. `npm run demo` runs it; nothing else is needed.
 */
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Controller,
  defineKind,
  driftCorrectedEvent,
  FileStateSource,
  KindRegistry,
  type Manifest,
  MemoryEventBus,
  resourceStatusEvent,
  TerminalError,
} from "@org/reconcile-core";
import { z } from "zod";

const root = await mkdtemp(join(tmpdir(), "reconcile-demo-"));
const filesDir = join(root, "files");
const manifestPath = join(root, "manifest.yaml");

/** A deliberately small File kind: content and mode of a file under `filesDir`. */
const DemoFile = defineKind({
  name: "DemoFile",
  specSchema: z
    .object({
      name: z.string().regex(/^[\w.-]+$/, "a plain file name"),
      content: z.string(),
      mode: z.number().int().default(0o644),
    })
    .strict(),
  reconciler: {
    async observe(id) {
      const path = join(filesDir, id);
      try {
        return { content: await readFile(path, "utf8"), mode: (await stat(path)).mode & 0o777 };
      } catch {
        return undefined;
      }
    },
    async reconcile({ id, spec }, observed) {
      if (spec.name !== id)
        throw new TerminalError(`spec.name '${spec.name}' must equal the resource id '${id}'`);
      if (observed?.content === spec.content && observed.mode === spec.mode)
        return { changed: false };
      const path = join(filesDir, id);
      await writeFile(`${path}.tmp`, spec.content, { mode: spec.mode });
      await rename(`${path}.tmp`, path);
      return { changed: true, details: { bytes: Buffer.byteLength(spec.content) } };
    },
    async delete(id) {
      await rm(join(filesDir, id), { force: true });
    },
  },
});

const write = async (m: Manifest) => {
  const yaml = `generation: ${m.generation}\nresources:\n${m.resources.map((r) => `  - kind: ${r.kind}\n    id: ${r.id}\n    spec: ${JSON.stringify(r.spec)}\n`).join("")}`;
  await writeFile(`${manifestPath}.tmp`, yaml);
  await rename(`${manifestPath}.tmp`, manifestPath);
};
const file = (name: string, content: string) => ({
  kind: "DemoFile",
  id: name,
  spec: { name, content },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)}  ${line}`);

await mkdir(filesDir);
const bus = new MemoryEventBus();
bus.subscribe("demo.status.>", (e) => {
  const { id, status } = resourceStatusEvent.parse(e).data;
  const extra =
    status.state === "Failed"
      ? `  error: ${status.error}`
      : status.state === "Unknown"
        ? `  ${status.reason}`
        : "";
  say(`  ${id.padEnd(12)} ${status.state}${extra}`);
});
bus.subscribe("demo.drift.>", (e) =>
  say(`  ${driftCorrectedEvent.parse(e).data.id.padEnd(12)} drift corrected`),
);

const controller = new Controller({
  kinds: new KindRegistry([DemoFile]),
  resyncIntervalMs: 1_000,
  statusIntervalMs: 200,
  events: { bus, source: "examples/core-demo", subjectPrefix: "demo" },
});
let lastSummary = "";
controller.onStatus((s) => {
  const ready = Object.values(s.resources).filter((r) => r.state === "Ready").length;
  const summary = `status: generation ${s.observedGeneration}/${s.manifestGeneration}, ${ready}/${Object.keys(s.resources).length} ready, ${s.conditions
    .filter((c) => c.status === "True")
    .map((c) => c.type)
    .join(", ")}`;
  if (summary !== lastSummary) say(summary);
  lastSummary = summary;
});
controller.start();

say(`manifest ${manifestPath}, files under ${filesDir}`);
await write({
  generation: 1,
  resources: [
    file("motd", "Welcome to pi-7\n"),
    file("app.conf", "port=8080\n"),
    file("banner", "hello\n"),
  ],
});
const source = new FileStateSource({ path: manifestPath, pollIntervalMs: 500 });
await source.start((update) => {
  if (update.type === "error")
    return say(`manifest refused, keeping the last good one: ${update.error.message}`);
  const result = controller.apply(update.value);
  say(
    result.applied
      ? `manifest generation ${update.value.generation} applied`
      : `manifest ignored: ${result.reason}`,
  );
});

await sleep(1_000);

say(
  "generation 2: change app.conf, drop banner, add a resource of a kind this agent does not know",
);
await write({
  generation: 2,
  resources: [
    file("motd", "Welcome to pi-7\n"),
    file("app.conf", "port=9090\n"),
    { kind: "Gadget", id: "gizmo", spec: {} },
  ],
});
await sleep(1_000);

say("a broken manifest is refused and the last good one stays in force");
await writeFile(manifestPath, "generation: 3\nresources: [");
await sleep(1_000);

say("someone deletes motd and edits app.conf by hand; the next resync repairs both");
await rm(join(filesDir, "motd"));
await writeFile(join(filesDir, "app.conf"), "port=1\n");
await sleep(1_500);

const final = controller.status();
say(
  `final: ${JSON.stringify(Object.fromEntries(Object.entries(final.resources).map(([id, r]) => [id, r.state])))}`,
);
say(
  `on disk: app.conf = ${JSON.stringify(await readFile(join(filesDir, "app.conf"), "utf8"))}, motd present: ${await stat(
    join(filesDir, "motd"),
  ).then(
    () => true,
    () => false,
  )}`,
);
await source.stop();
controller.stop();
await rm(root, { recursive: true, force: true });
