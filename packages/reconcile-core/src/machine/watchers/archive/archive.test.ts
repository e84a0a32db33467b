import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create as createTar } from "tar";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryEventBus } from "../../../bus/memory-bus.js";
import { silentLogger } from "../../../logging/logger.js";
import { recordEvents, tempDir, until } from "../../../testing/helpers.js";
import { MachineData } from "../../data-store.js";
import { watcherStateEvent } from "../../events.js";
import { loadMachineText } from "../../load.js";
import { DELIVERED_MACHINE_FILE, MachineManager } from "../../manager.js";
import { MachineRuntime } from "../../runtime.js";
import { renderTemplate } from "../../template.js";
import { builtinWatchers } from "../builtin.js";
import type { WatcherContext } from "../watcher.js";

const registry = builtinWatchers();
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

/** A real HTTP server: serves `files` by path, counts requests, and wants basic auth if `auth` is set. */
class ArchiveServer {
  files = new Map<string, Buffer>();
  requests: IncomingMessage[] = [];
  auth: string | undefined;
  readonly #server: Server = createServer((req, res) => {
    this.requests.push(req);
    if (
      this.auth &&
      req.headers.authorization !== `Basic ${Buffer.from(this.auth).toString("base64")}`
    ) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    const body = this.files.get(req.url ?? "");
    if (!body) res.writeHead(404).end("not found");
    else res.writeHead(200, { "content-type": "application/gzip" }).end(body);
  });
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** A real .tar.gz of `files` (path -> content) under a `metadata/` top directory, with a SHA256SUMS. */
async function makeArchive(files: Record<string, string>, extra?: (dir: string) => Promise<void>) {
  const src = await tempDir("archive-src");
  const top = join(src, "metadata");
  await mkdir(top, { recursive: true });
  const sums: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(top, name, ".."), { recursive: true });
    await writeFile(join(top, name), content);
    sums.push(`${sha256(content)}  ${name}`);
  }
  const sumsText = `${sums.join("\n")}\n`;
  await writeFile(join(top, "SHA256SUMS"), sumsText);
  await extra?.(src);
  const file = join(src, "archive.tgz");
  const entries = (await readdir(src)).filter((n) => n !== "archive.tgz");
  await createTar({ gzip: true, file, cwd: src, portable: true, preservePaths: true }, entries);
  const body = await readFile(file);
  return { body, checksum: sha256(body), sumsChecksum: sha256(sumsText) };
}

const server = new ArchiveServer();
beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(() => {
  server.requests = [];
  server.auth = undefined;
});

/** The archive watcher on a real machine directory; `data` feeds its templates. */
async function make(properties: Record<string, unknown>) {
  const directory = await tempDir("archive-machine");
  const data = new MachineData(directory);
  const type = registry.require("archive");
  const ctx: WatcherContext = {
    machine: { name: "M", version: "1.0.0", identity: "pi-7", instanceId: "i-1", directory },
    spec: { name: "download", type: "archive" },
    data,
    facts: () => ({}),
    render: (text) => renderTemplate(text, { data: data.all(), facts: {} }),
    kv: () => undefined,
    log: silentLogger,
    report: () => undefined,
    active: () => true,
  };
  const watcher = type.create(ctx, type.properties.parse(properties));
  return { run: () => watcher.run!(new AbortController().signal), data, directory };
}

describe("archive watcher (Choria's), against a real HTTP server and real .tar.gz files", () => {
  it("downloads, checks the archive's checksum, unpacks `creates` into target and verifies it; then only verifies", async () => {
    const archive = await makeArchive({ "machine.yaml": "name: X\n", "bin/check.sh": "exit 0\n" });
    server.files.set("/m.tgz", archive.body);
    server.auth = "artifacts:toomanysecrets";
    const { run, data, directory } = await make({
      source: `{{ lookup "data.source" "" }}`,
      checksum: archive.checksum,
      target: "machines",
      creates: "metadata",
      verify: "SHA256SUMS",
      verify_checksum: archive.sumsChecksum,
      username: "artifacts",
      password: "toomanysecrets",
    });
    data.set("source", `${server.url}/m.tgz`);

    expect(await run()).toEqual({
      outcome: "success",
      state: "downloaded",
      details: { source: `${server.url}/m.tgz`, creates: "metadata" },
    });
    const creates = join(directory, "machines", "metadata");
    expect(await readFile(join(creates, "bin", "check.sh"), "utf8")).toBe("exit 0\n");
    expect(server.requests.map((r) => r.headers["user-agent"])).toEqual([
      expect.stringMatching(/^Choria Archive Watcher/),
    ]);
    // The download and unpack happened in target/tmp (never loaded as a machine) and left nothing.
    expect(await readdir(join(directory, "machines", "tmp"))).toEqual([]);

    // Deployed and intact: verified, nothing fetched.
    expect(await run()).toMatchObject({ outcome: "success", state: "verified" });
    expect(server.requests).toHaveLength(1);

    // A file changed on disk no longer matches SHA256SUMS: deployed again.
    await writeFile(join(creates, "machine.yaml"), "name: Tampered\n");
    expect(await run()).toMatchObject({ outcome: "success", state: "downloaded" });
    expect(await readFile(join(creates, "machine.yaml"), "utf8")).toBe("name: X\n");
    expect(server.requests).toHaveLength(2);
  });

  it("fails, leaving what is deployed alone, on a checksum mismatch, a wrong password, a 404 and a bad verify_checksum", async () => {
    const archive = await makeArchive({ "a.txt": "a\n" });
    server.files.set("/a.tgz", archive.body);
    const base = {
      source: `${server.url}/a.tgz`,
      checksum: archive.checksum,
      target: "t",
      creates: "metadata",
    };
    const failure = async (properties: Record<string, unknown>) => {
      const { run, directory } = await make({ ...base, ...properties });
      const result = await run();
      expect(result).toMatchObject({ outcome: "fail", state: "error" });
      expect(await stat(join(directory, "t", "metadata")).catch(() => undefined)).toBeUndefined();
      return result.details.error;
    };
    expect(await failure({ checksum: sha256("something else") })).toBe(
      `archive checksum ${archive.checksum} != ${sha256("something else")} mismatch`,
    );
    expect(await failure({ source: `${server.url}/missing.tgz` })).toBe(
      `download of ${server.url}/missing.tgz failed: HTTP 404 Not Found`,
    );
    server.auth = "u:right";
    expect(await failure({ username: "u", password: "wrong" })).toBe(
      `download of ${server.url}/a.tgz failed: HTTP 401 Unauthorized`,
    );
    server.auth = undefined;
    expect(await failure({ verify: "SHA256SUMS", verify_checksum: sha256("not the sums") })).toBe(
      `checksum file SHA256SUMS has an invalid checksum "${archive.sumsChecksum}" != "${sha256("not the sums")}"`,
    );
    expect(await failure({ source: `{{ lookup "data.nothing" "" }}` })).toBe(
      "source template resulted in an empty string",
    );
  });

  it("refuses archives with links or '..' names, as Choria's untar does, and writes nothing outside", async () => {
    const linked = await makeArchive({ "a.txt": "a\n" }, (src) =>
      symlink("/etc/passwd", join(src, "metadata", "passwd")),
    );
    server.files.set("/linked.tgz", linked.body);
    const { run, directory } = await make({
      source: `${server.url}/linked.tgz`,
      checksum: linked.checksum,
      target: "t",
      creates: "metadata",
    });
    const result = await run();
    expect(result).toMatchObject({ outcome: "fail", state: "error" });
    expect(result.details.error).toBe(
      "archive extraction failed: untar failed: only regular files and directories are supported (metadata/passwd is a SymbolicLink)",
    );
    expect(await stat(join(directory, "t", "metadata")).catch(() => undefined)).toBeUndefined();

    // An entry that climbs out of the unpack directory.
    const src = await tempDir("archive-src");
    const inner = join(src, "a", "b");
    await mkdir(join(inner, "metadata"), { recursive: true });
    await writeFile(join(inner, "metadata", "x"), "x");
    await writeFile(join(src, "a", "escape.txt"), "escaped");
    const file = join(src, "climb.tgz");
    await createTar({ gzip: true, file, cwd: inner, preservePaths: true }, [
      "metadata",
      "../escape.txt",
    ]);
    const body = await readFile(file);
    server.files.set("/climb.tgz", body);
    const climb = await make({
      source: `${server.url}/climb.tgz`,
      checksum: sha256(body),
      target: "t",
      creates: "metadata",
    });
    const climbed = await climb.run();
    expect(climbed).toMatchObject({ outcome: "fail", state: "error" });
    expect(climbed.details.error).toBe(
      "archive extraction failed: untar failed: invalid tar file detected (../escape.txt)",
    );
    expect(await readdir(join(climb.directory, "t"))).toEqual(["tmp"]);
    expect(await readdir(join(climb.directory, "t", "tmp"))).toEqual([]);
  });

  it("fires success_transition in a machine and announces Choria's state notification", async () => {
    const archive = await makeArchive({ "a.txt": "a\n" });
    server.files.set("/m.tgz", archive.body);
    const directory = await tempDir("archive-runtime");
    const loaded = loadMachineText(
      `name: Deployer
version: 1.0.0
initial_state: MANAGE
transitions:
  - {name: deployed, from: [MANAGE], destination: READY}
  - {name: failed, from: [MANAGE], destination: BROKEN}
watchers:
  - name: download
    type: archive
    state_match: [MANAGE]
    success_transition: deployed
    fail_transition: failed
    properties:
      source: ${server.url}/m.tgz
      checksum: ${archive.checksum}
      target: deployed
      creates: metadata
`,
      registry,
    );
    if (!loaded.ok) throw loaded.error;
    const bus = new MemoryEventBus();
    const runs = recordEvents(bus, "choria.machine.pi-7.Deployer.watcher.archive.download");
    const runtime = new MachineRuntime({
      definition: loaded.definition,
      directory,
      identity: "pi-7",
      bus,
      splayMs: 0,
    });
    await runtime.start();
    try {
      await until(
        () => runtime.state,
        (s) => s === "READY",
        10_000,
        "reaching READY",
      );
      const data = watcherStateEvent("archive").parse(runs.events[0]!.event).data;
      expect(data).toMatchObject({
        protocol: "io.choria.machine.watcher.archive.v1.state",
        type: "archive",
        name: "download",
        source: `${server.url}/m.tgz`,
        creates: "metadata",
        previous_outcome: "downloaded",
        previous_transition: "deployed",
      });
      expect(await readFile(join(directory, "deployed", "metadata", "a.txt"), "utf8")).toBe("a\n");
    } finally {
      await runtime.stop();
    }
  });

  it("refuses what Choria's validate() refuses, in its words, and a `creates` outside target", () => {
    const problems = (properties: string, interval = "") => {
      const result = loadMachineText(
        `name: A
version: 1.0.0
initial_state: a
transitions: [{name: go, from: [a], destination: b}]
watchers:
  - {name: d, type: archive, ${interval}properties: {${properties}}}
`,
        registry,
      );
      return result.ok ? [] : result.error.problems;
    };
    expect(problems("")).toEqual([
      "invalid properties for archive watcher d: source: source is required; checksum: checksum is required; target: target is required; creates: creates is required",
    ]);
    const base = "source: 'http://x/a.tgz', checksum: abc, target: /srv, creates: m";
    expect(problems(`${base}, verify: SHA256SUMS`)).toEqual([
      "invalid properties for archive watcher d: (root): verify_checksum is required if verify is set",
    ]);
    expect(problems(`${base}, username: u`)).toEqual([
      "invalid properties for archive watcher d: (root): password is required when username is given",
    ]);
    expect(problems(base, "interval: 5s, ")).toEqual([
      "interval 5s is too small for archive watcher d (at least 10s)",
    ]);
    expect(problems(base.replace("creates: m", "creates: ../etc"))).toEqual([
      "invalid properties for archive watcher d: creates: creates is a directory inside target: a relative path without '..'",
    ]);
    expect(problems(base)).toEqual([]);
  });

  it("is remote code: a delivered machine may not use it where remote exec is off (ADR 005)", async () => {
    const root = await tempDir("archive-delivered");
    const dir = join(root, "deployer");
    await mkdir(dir);
    await writeFile(join(dir, DELIVERED_MACHINE_FILE), "{}");
    await writeFile(
      join(dir, "machine.yaml"),
      `name: Deployer
version: 1.0.0
initial_state: a
transitions: [{name: go, from: [a], destination: b}]
watchers:
  - {name: download, type: archive, properties: {source: '${server.url}/m.tgz', checksum: abc, target: ${root}, creates: evil}}
`,
    );
    const manager = new MachineManager({ directory: root, identity: "pi-7", registry });
    await manager.start();
    try {
      expect(manager.status()).toEqual([
        expect.objectContaining({
          directory: dir,
          error: expect.stringContaining("runs commands (download (archive))"),
        }),
      ]);
      expect(manager.machines()).toEqual([]);
      expect(server.requests).toEqual([]);
    } finally {
      await manager.stop();
    }
  });
});
