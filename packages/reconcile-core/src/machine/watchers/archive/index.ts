import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, open, rename, rm, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadEntry } from "tar";
import { z } from "zod";
import { DurationSchema, durationMs, formatDuration, parseDuration } from "../../duration.js";
import { defineWatcherType } from "../watcher.js";
import { sha256File, verifyDirectory } from "./checksums.js";

/** Choria's minimum HTTP timeout (shorter ones are raised to it) and minimum interval. */
const MIN_TIMEOUT_MS = 5_000;
const MIN_INTERVAL_MS = 10_000;

const required = (key: string) =>
  z.string({ error: `${key} is required` }).min(1, `${key} is required`);

const ArchiveProperties = z
  .object({
    source: required("source").describe(
      "URL of the .tar.gz to deploy (http or https); templates allowed",
    ),
    checksum: required("checksum").describe(
      "sha256 (hex) of the archive; a download that differs is refused. Templates allowed",
    ),
    target: required("target").describe(
      "Directory the archive is deployed into, absolute or relative to the machine's directory",
    ),
    creates: required("creates")
      .refine(
        (p) => !isAbsolute(p) && !normalize(p).split(sep).includes("..") && normalize(p) !== ".",
        "creates is a directory inside target: a relative path without '..'",
      )
      .describe("The directory the archive holds at its top; replaced whole on every deploy"),
    verify: z
      .string()
      .optional()
      .describe("A sha256sum file inside `creates` listing its files, checked at every run"),
    verify_checksum: z
      .string()
      .optional()
      .describe("sha256 (hex) of the `verify` file; required with verify. Templates allowed"),
    username: z.string().optional().describe("HTTP basic auth user; needs password"),
    password: z.string().optional().describe("HTTP basic auth password"),
    timeout: DurationSchema.optional().describe("HTTP timeout (at least and by default 5s)"),
  })
  .strict()
  .superRefine((p, ctx) => {
    // Choria's own messages (archive.go validate()).
    if (p.verify && !p.verify_checksum)
      ctx.addIssue({ code: "custom", message: "verify_checksum is required if verify is set" });
    if (p.username && !p.password)
      ctx.addIssue({ code: "custom", message: "password is required when username is given" });
  });

type Properties = z.infer<typeof ArchiveProperties>;

/** The watcher's state as Choria's archive watcher names it in `previous_outcome`. */
type ArchiveState = "verified" | "downloaded" | "error";

/**
 * Choria's archive watcher: keeps `target/creates` deployed from a checksummed .tar.gz. Each run
 * (on entering a matched state, and every `interval` if set) checks that `creates` is there and,
 * with `verify`, that its files match the sums file, whose own checksum is `verify_checksum`.
 * If so: success (`verified`). If not: download to `target/tmp` (which the machine manager never
 * loads), check the archive's sha256, unpack (regular files and directories only, nothing
 * outside), verify the unpacked `creates`, and swap it in: success (`downloaded`). Any failure:
 * fail (`error`), with the reason, and what was deployed stays as it was.
 */
export const archiveWatcher = defineWatcherType({
  type: "archive",
  properties: ArchiveProperties,
  choriaOnlyProperties: ["governor", "governor_timeout", "insecure"],
  // Deploying what it fetches is remote code (it can drop a machine into the machines
  // directory), so a delivered machine may use it only where remote exec is allowed (ADR 005).
  runsCommands: true,
  summarize: (d) =>
    `source: ${d.source}${typeof d.error === "string" ? `, error: ${d.error}` : ""}`,
  validate(spec) {
    const ms = spec.interval === undefined ? undefined : parseDuration(spec.interval);
    return ms !== undefined && ms < MIN_INTERVAL_MS
      ? [
          `interval ${formatDuration(ms)} is too small for archive watcher ${spec.name} (at least 10s)`,
        ]
      : [];
  },
  create(ctx, props) {
    const target = () => {
      const dir = ctx.render(props.target);
      return isAbsolute(dir) ? dir : join(ctx.machine.directory, dir);
    };
    let lastSource = props.source;

    /** Whether `creates` is deployed and, with `verify`, intact; why not, if not. */
    const check = async (creates: string): Promise<string | undefined> => {
      if (!(await isDirectory(creates))) return `${creates} does not exist`;
      if (!props.verify) return undefined;
      if (!(await isFile(join(creates, props.verify))))
        return `checksums file ${props.verify} does not exist in ${creates}`;
      if (!props.verify_checksum) return undefined;
      return verify(creates);
    };

    /** Checks `dir` against the `verify` sums file, after checking that file's own checksum. */
    const verify = async (dir: string): Promise<string | undefined> => {
      const expected = ctx.render(props.verify_checksum ?? "");
      if (expected === "") return "verify_checksum template resulted in an empty string";
      const sums = join(dir, props.verify ?? "");
      if (!(await isFile(sums)))
        return `checksums file ${props.verify} does not exist in the archive (${sums})`;
      const actual = await sha256File(sums);
      if (actual !== expected)
        return `checksum file ${props.verify} has an invalid checksum "${actual}" != "${expected}"`;
      const failed = await verifyDirectory(sums, dir);
      return failed.length > 0
        ? `contents did not pass verification: ${failed.join(", ")}`
        : undefined;
    };

    const deploy = async (signal: AbortSignal, root: string, creates: string): Promise<void> => {
      const source = ctx.render(props.source);
      const checksum = ctx.render(props.checksum);
      if (source === "") throw new Error("source template resulted in an empty string");
      if (checksum === "") throw new Error("checksum template resulted in an empty string");
      lastSource = source;
      const url = parseUrl(source);
      // Beside the target, so the final rename stays on one file system; `tmp` is never loaded
      // as a machine.
      await mkdir(join(root, "tmp"), { recursive: true, mode: 0o700 });
      const work = await mkdtemp(join(root, "tmp", "archive-"));
      try {
        const file = join(work, "archive.tgz");
        await download(url, file, props, ctx.render, signal);
        const sum = await sha256File(file);
        if (sum !== checksum) throw new Error(`archive checksum ${sum} != ${checksum} mismatch`);
        const unpacked = join(work, "unpacked");
        await unpack(file, unpacked);
        const staged = join(unpacked, props.creates);
        if (!(await isDirectory(staged)))
          throw new Error(`the archive has no ${props.creates} directory at its top`);
        if (props.verify_checksum) {
          const problem = await verify(staged);
          if (problem) throw new Error(problem);
        }
        await rm(creates, { recursive: true, force: true });
        await mkdir(dirname(creates), { recursive: true, mode: 0o700 });
        await rename(staged, creates);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
      ctx.log.warn({ source, creates }, "archive deployed");
    };

    return {
      async run(signal) {
        const root = target();
        const creates = join(root, props.creates);
        const details = (state: ArchiveState, error?: string) => ({
          state,
          details: {
            source: lastSource,
            creates: props.creates,
            ...(error ? { error } : {}),
          },
        });
        const problem = await check(creates);
        if (problem === undefined) return { outcome: "success", ...details("verified") };
        ctx.log.info(
          { creates, reason: problem },
          "archive not deployed or not intact: downloading",
        );
        try {
          await deploy(signal, root, creates);
          return { outcome: "success", ...details("downloaded") };
        } catch (err) {
          return { outcome: "fail", ...details("error", (err as Error).message) };
        }
      },
      stop() {},
    };
  },
});

function parseUrl(source: string): URL {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new Error(`invalid url: ${source}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Error(`invalid url: ${source}: only http and https sources are supported`);
  return url;
}

async function download(
  url: URL,
  file: string,
  props: Properties,
  render: (text: string) => string,
  signal: AbortSignal,
): Promise<void> {
  const timeoutMs = Math.max(
    props.timeout === undefined ? 0 : durationMs(props.timeout),
    MIN_TIMEOUT_MS,
  );
  const headers: Record<string, string> = { "User-Agent": "Choria Archive Watcher (edge-agent)" };
  if (props.username) {
    const credentials = `${render(props.username)}:${render(props.password ?? "")}`;
    headers.Authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  // Never log or report the URL's own credentials.
  const shown = `${url.origin}${url.pathname}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers,
      redirect: "follow",
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    if (!response.ok || !response.body)
      throw new Error(`HTTP ${response.status} ${response.statusText}`);
    await pipeline(Readable.fromWeb(response.body as never), createWriteStream(file));
  } catch (err) {
    const reason =
      (err as Error).name === "TimeoutError"
        ? `no complete answer within ${formatDuration(timeoutMs)} (raise timeout)`
        : (err as Error).message;
    throw new Error(`download of ${shown} failed: ${reason}`);
  }
}

/**
 * Unpacks a .tar.gz into `dir`, refusing what Choria's untar refuses: anything but regular files
 * and directories (links, devices), and names with `..`. Owners are never taken from the archive.
 */
async function unpack(file: string, dir: string): Promise<void> {
  const handle = await open(file, "r");
  const magic = Buffer.alloc(2);
  await handle.read(magic, 0, 2, 0);
  await handle.close();
  if (magic[0] !== 0x1f || magic[1] !== 0x8b)
    throw new Error("archive extraction failed: unzip failed: not a gzip file");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Loaded on first use: an agent without archive watchers never pays for it.
  const { extract: extractTar } = await import("tar");
  let refused: string | undefined;
  try {
    await extractTar({
      file,
      cwd: dir,
      strict: true,
      preserveOwner: false,
      filter: (path, entry) => {
        const type = (entry as ReadEntry).type;
        if (type !== "File" && type !== "OldFile" && type !== "Directory")
          refused ??= `only regular files and directories are supported (${path} is a ${type})`;
        else if (path.includes("..")) refused ??= `invalid tar file detected (${path})`;
        return refused === undefined;
      },
    });
  } catch (err) {
    throw new Error(`archive extraction failed: untar failed: ${(err as Error).message}`);
  }
  if (refused) throw new Error(`archive extraction failed: untar failed: ${refused}`);
}

const isDirectory = (path: string) =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

const isFile = (path: string) =>
  stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
