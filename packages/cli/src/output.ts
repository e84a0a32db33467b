/** Writes one line to stdout. */
export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a value as indented JSON, the form every `--json` flag prints. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

const guarded = new WeakSet<NodeJS.WriteStream>();

/**
 * Makes a closed stdout or stderr (`cli ... | head`, `cli ... 2>&1 | head`) end the process
 * quietly with code 0 instead of an unhandled EPIPE stack trace: the reader has all it wanted.
 */
export function exitQuietlyOnClosedPipe(
  streams: NodeJS.WriteStream[] = [process.stdout, process.stderr],
): void {
  for (const stream of streams) {
    if (guarded.has(stream)) continue;
    guarded.add(stream);
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
}
