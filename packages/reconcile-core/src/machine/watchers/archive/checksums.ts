import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** The sha256 of a file, hex encoded. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** A `sha256sum` line, as go-choria's `Sha256VerifyDir` reads it. */
const SUMS_LINE = /^([a-z0-9]+)\s+(\S.+)$/;

/**
 * Checks a directory against a `sha256sum`-style file, as go-choria's `Sha256VerifyDir`: each
 * line is `<hex>  <path relative to dir>`, a malformed line is an error, and a missing or
 * different file fails verification. Returns the files that did not match.
 */
export async function verifyDirectory(sumsFile: string, dir: string): Promise<string[]> {
  const lines = (await readFile(sumsFile, "utf8")).split(/\r?\n/);
  const failed: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.length === 0) continue;
    const match = SUMS_LINE.exec(line);
    if (!match) throw new Error(`invalid sums file ${sumsFile}: malformed line ${i + 1}`);
    const [, sum, file] = match as unknown as [string, string, string];
    const path = join(dir, file);
    const actual = await stat(path).then(
      (info) => (info.isFile() ? sha256File(path) : undefined),
      () => undefined,
    );
    if (actual !== sum) failed.push(file);
  }
  return failed;
}
