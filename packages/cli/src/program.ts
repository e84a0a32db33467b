import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { CliError, errorJson } from "./errors.js";
import { exitQuietlyOnClosedPipe } from "./output.js";

/**
 * The version in the nearest `package.json` at or above `from` (a file's path or `file:` URL),
 * or undefined when there is none (a bundled file copied on its own).
 */
export function packageVersion(from: string | URL | undefined): string | undefined {
  if (!from) return undefined;
  let dir: string;
  try {
    const path = String(from).startsWith("file:") ? fileURLToPath(from) : String(from);
    dir = dirname(realpathSync(path));
  } catch {
    return undefined;
  }
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        version?: unknown;
      };
      if (typeof pkg.version === "string") return pkg.version;
    } catch {
      // no package.json here: look one level up
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * A commander program with the apps' shared behaviour: help after a usage error, and
 * `--version` from the app's `package.json` (the nearest one above `from`, a file of the app:
 * pass `import.meta.url`; default the script that was started).
 */
export function createProgram(
  name: string,
  description: string,
  from: string | URL | undefined = process.argv[1],
): Command {
  const program = new Command(name).description(description).showHelpAfterError().exitOverride();
  const version = packageVersion(from);
  if (version) program.version(version, "-V, --version", "print the version and exit");
  return program;
}

/** The `--json` flag every listing command offers. */
export const jsonOption = (): Option => new Option("--json", "JSON output");

/** Whether the command line asks for JSON output (`--json` before any `--`). */
function wantsJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}

/**
 * Parses the command line and runs the chosen command. A `CliError` prints as `name: message`
 * with its exit code; anything else exits 2 with its message, never a stack trace. Under
 * `--json`, every failure (a usage error too) is also one line of JSON on stdout,
 * `{error, message, details}`, so a script reading stdout gets JSON either way.
 */
export async function runProgram(program: Command, argv: string[] = process.argv): Promise<void> {
  exitQuietlyOnClosedPipe();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help, or the version) already.
      if (err.exitCode !== 0 && wantsJson(argv))
        process.stdout.write(
          `${JSON.stringify({ error: "UsageError", message: err.message.replace(/^error: /, ""), details: { code: err.code } })}\n`,
        );
      process.exit(err.exitCode);
    }
    const code = err instanceof CliError ? err.exitCode : 2;
    if (wantsJson(argv)) process.stdout.write(`${JSON.stringify(errorJson(err))}\n`);
    process.stderr.write(`${program.name()}: ${(err as Error).message ?? String(err)}\n`);
    // Open sockets (Docker, NATS) would otherwise keep a failed command alive.
    process.exit(code);
  }
}
