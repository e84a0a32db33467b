import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  type Stats,
} from "node:fs";
import { dirname } from "node:path";
import { defineKind, TerminalError } from "@org/reconcile-core";
import { writeFileAtomicSync } from "@org/reconcile-core/internal";
import { z } from "zod";
import { confinePath } from "./paths.js";
import { gidOf, uidOf } from "./users.js";

export const FileSpecSchema = z
  .object({
    path: z.string().startsWith("/", "the path must be absolute"),
    content: z.string().optional().describe("Inline text"),
    contentBase64: z
      .string()
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, "not base64")
      .optional(),
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, "a lower-case hex SHA-256")
      .optional()
      .describe("Expected hash: checks the content (alone: check only)"),
    mode: z
      .string()
      .regex(/^0?[0-7]{3,4}$/, "an octal mode such as 0644")
      .default("0644"),
    owner: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
    group: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
  })
  .strict()
  .refine((f) => !(f.content !== undefined && f.contentBase64 !== undefined), {
    message: "give content or contentBase64, not both",
  })
  .refine(
    (f) => f.content !== undefined || f.contentBase64 !== undefined || f.sha256 !== undefined,
    { message: "give content, contentBase64 or sha256" },
  );

export type FileSpec = z.infer<typeof FileSpecSchema>;

/** What `observe` saw at a File's path. */
export type ObservedFile =
  | {
      /** The path as the spec gives it. */
      path: string;
      /** Why the path may not be managed: outside the roots, `..`, a symbolic link on the way, not a regular file. */
      refused: string;
    }
  | {
      path: string;
      /** The confined path the file is written to. */
      target: string;
      /** What is there; absent when nothing is. */
      file?: { sha256: string; mode: number; uid: number; gid: number; size: number };
    };

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** The call's result, or undefined when the file system refuses it (missing, no access). */
function tryFs<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}

// Writes use the core's `writeFileAtomicSync`, without fsync: the File kind hashes what is there
// at every observation, so a file a power cut left empty is rewritten at the next start (and
// resync) anyway; an fsync per file would cost every manifest a disk flush per file (about 2 ms
// each here, far more on an SD card) for a state that is repaired regardless.

/**
 * The `File` kind: a file under the allowed roots with exact content (inline text or base64,
 * size-capped) or a checked SHA-256, mode and owner. Written atomically (a temporary file in
 * the same directory, given its mode and owner, then renamed); drift is a content hash, mode
 * or owner that differs.
 *
 * File-system calls are synchronous. For files this size (1 MiB at most by default) each call
 * takes microseconds, while the same call through libuv's thread pool costs ten times the CPU;
 * the kind already hashes the whole content on the event loop, which costs more than reading it.
 */
export function fileKind(options: { allowedRoots: readonly string[]; maxBytes?: number }) {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  /** Where each resource's file was last put, to remove it when its path changes. */
  const paths = new Map<string, string>();
  /** Desired bytes and their hash per validated spec object: a resync reuses them. */
  const desiredCache = new WeakMap<FileSpec, { bytes?: Buffer; sha256: string }>();

  const desiredContent = (spec: FileSpec): { bytes?: Buffer; sha256: string } => {
    const cached = desiredCache.get(spec);
    if (cached) return cached;
    const bytes =
      spec.content !== undefined
        ? Buffer.from(spec.content, "utf8")
        : spec.contentBase64 !== undefined
          ? Buffer.from(spec.contentBase64, "base64")
          : undefined;
    if (bytes && bytes.length > maxBytes)
      throw new TerminalError(`content is ${bytes.length} bytes; the limit is ${maxBytes}`);
    const hash = bytes ? sha256(bytes) : spec.sha256!;
    if (bytes && spec.sha256 && hash !== spec.sha256)
      throw new TerminalError(`content does not match the given sha256 ${spec.sha256}`);
    const content = bytes ? { bytes, sha256: hash } : { sha256: hash };
    desiredCache.set(spec, content);
    return content;
  };

  return defineKind({
    name: "File",
    specSchema: FileSpecSchema,
    reconciler: {
      async observe(_id, _ctx, desired): Promise<ObservedFile | undefined> {
        if (!desired) return undefined;
        const { path } = desired.spec;
        let target: string;
        let info: Stats | undefined;
        try {
          ({ target, stats: info } = confinePath(path, options.allowedRoots));
        } catch (err) {
          if (err instanceof TerminalError) return { path, refused: err.message };
          throw err;
        }
        const content = info ? tryFs(() => readFileSync(target)) : undefined;
        if (!info || content === undefined) return { path, target };
        return {
          path,
          target,
          file: {
            sha256: sha256(content),
            mode: info.mode & 0o7777,
            uid: info.uid,
            gid: info.gid,
            size: info.size,
          },
        };
      },

      async reconcile({ id, spec }, observed) {
        if (observed?.path !== spec.path)
          throw new Error(
            `${spec.path} was not observed before its reconcile (observe needs the desired resource)`,
          );
        if ("refused" in observed) throw new TerminalError(observed.refused);
        const path = observed.target;
        const current = observed.file;
        const previous = paths.get(id);
        paths.set(id, path);
        const mode = Number.parseInt(spec.mode, 8);
        const uid = spec.owner === undefined ? undefined : uidOf(spec.owner);
        const gid = spec.group === undefined ? undefined : gidOf(spec.group);
        const { bytes, sha256: wantHash } = desiredContent(spec);
        const details = { path, sha256: wantHash, mode: spec.mode };

        if (!bytes) {
          if (!current)
            throw new TerminalError(
              `${path} does not exist, and the manifest gives only its sha256 to check`,
            );
          if (current.sha256 !== wantHash)
            throw new TerminalError(
              `${path} has sha256 ${current.sha256}, expected ${wantHash}; the manifest gives no content to restore`,
            );
        }
        const contentOk = current?.sha256 === wantHash;
        const modeOk = current?.mode === mode;
        const ownerOk =
          current !== undefined &&
          (uid === undefined || current.uid === uid) &&
          (gid === undefined || current.gid === gid);
        const movedFrom = previous !== undefined && previous !== path ? previous : undefined;
        if (contentOk && modeOk && ownerOk) {
          if (movedFrom) rmSync(movedFrom, { force: true });
          return { changed: false, details };
        }
        // Confined again right before acting: a symbolic link planted since the observation
        // must not redirect the write, chmod or chown outside the roots.
        confinePath(spec.path, options.allowedRoots);
        if (!contentOk && bytes) {
          const owner = {
            mode,
            ...(uid === undefined ? {} : { uid }),
            ...(gid === undefined ? {} : { gid }),
          };
          try {
            writeFileAtomicSync(path, bytes, owner);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
            mkdirSync(dirname(path), { recursive: true }); // the first file of a new directory
            writeFileAtomicSync(path, bytes, owner);
          }
        } else {
          chmodSync(path, mode);
          if (uid !== undefined || gid !== undefined) chownSync(path, uid ?? -1, gid ?? -1);
        }
        if (movedFrom) rmSync(movedFrom, { force: true });
        return { changed: true, details };
      },

      async delete(id, spec) {
        const path =
          paths.get(id) ??
          (spec ? tryFs(() => confinePath(spec.path, options.allowedRoots).target) : undefined);
        paths.delete(id);
        if (!path) return;
        if (tryFs(() => lstatSync(path))?.isFile()) rmSync(path, { force: true });
      },
    },
  });
}
