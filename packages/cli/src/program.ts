import { Command, Option } from "commander";
import { CliError } from "./errors.js";
import { exitQuietlyOnClosedPipe } from "./output.js";

/** A commander program with the apps' shared behaviour: help after a usage error. */
export function createProgram(name: string, description: string): Command {
  return new Command(name).description(description).showHelpAfterError();
}

/** The `--json` flag every listing command offers. */
export const jsonOption = (): Option => new Option("--json", "JSON output");

/**
 * Parses the command line and runs the chosen command. A `CliError` prints as `name: message`
 * with its exit code; anything else exits 2 with its message, never a stack trace.
 */
export async function runProgram(program: Command, argv: string[] = process.argv): Promise<void> {
  exitQuietlyOnClosedPipe();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = err instanceof CliError ? err.exitCode : 2;
    process.stderr.write(`${program.name()}: ${(err as Error).message ?? String(err)}\n`);
    // Open sockets (Docker, NATS) would otherwise keep a failed command alive.
    process.exit(code);
  }
}
