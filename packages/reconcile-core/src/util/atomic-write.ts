import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";

/**
 * Writes `content` to `path` so a reader sees the old file or the new one, never a half-written
 * one: a temporary file beside it, then a rename. Concurrent writers in one process never share
 * a temporary name, and a failed write leaves no temporary file behind.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, content, options.mode === undefined ? {} : { mode: options.mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
