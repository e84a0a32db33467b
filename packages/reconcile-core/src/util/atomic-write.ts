import { randomBytes } from "node:crypto";
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
