/** Writes one line to stdout. */
export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a value as indented JSON, the form every `--json` flag prints. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

let guarded = false;

/**
 * Makes a closed stdout (`cli ... | head`) end the process quietly with code 0 instead of an
 * unhandled EPIPE stack trace: the reader has all it wanted.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream = process.stdout): void {
  if (guarded) return;
  guarded = true;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}
