import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fchownSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { chmod, chown, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** The file's exact mode, whatever the umask. */
  mode?: number;
  /** Owner and group; either may be left as it is. */
  uid?: number;
  gid?: number;
}

/**
 * Writes `content` to `path` so a reader sees the old file or the new one, never a half-written
 * one: a hidden temporary file beside it, given its mode and owner first, then a rename, so the
 * file never appears with the wrong ones. Concurrent writers in one process never share a
 * temporary name, and a failed write leaves no temporary file behind.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  try {
    await writeFile(tmp, content, options.mode === undefined ? {} : { mode: options.mode });
    if (options.mode !== undefined) await chmod(tmp, options.mode);
    if (options.uid !== undefined || options.gid !== undefined)
      await chown(tmp, options.uid ?? -1, options.gid ?? -1);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Temporary names of the synchronous writer: this process's random prefix and a counter. */
const tmpPrefix = `${process.pid}.${randomBytes(4).toString("hex")}`;
let tmpCount = 0;

/**
 * `writeFileAtomic` with synchronous calls, for small files written on a hot path: each
 * call takes microseconds on the event loop, where the promise API costs several times the
 * CPU in libuv's thread pool (the edge agent writes its File resources and its manifest cache
 * this way). The temporary file is created exclusively, gets its mode and owner through its
 * descriptor, and is renamed over `path`; a failure removes it.
 *
 * No fsync: after a power cut the file may be the old one or, on some file systems, empty.
 * Callers keep what they write checkable (a hash, a parse) and rewrite it when it is wrong.
 */
export function writeFileAtomicSync(
  path: string,
  content: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const tmp = join(dirname(path), `.${basename(path)}.${tmpPrefix}.${++tmpCount}.tmp`);
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const mode = options.mode ?? 0o666;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    if (options.mode !== undefined) fchmodSync(fd, options.mode); // the umask narrowed it
    if (options.uid !== undefined || options.gid !== undefined)
      fchownSync(fd, options.uid ?? -1, options.gid ?? -1);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
