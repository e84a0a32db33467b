/** Helpers for testing implementations of the core's interfaces (imports vitest). */
export { describeKvContract, takeEntries } from "./kv-contract.js";
export { recordEvents, tempDir, until, writeMachineDir } from "./helpers.js";
export { CliProcess } from "./cli-process.js";
export { REPO_ROOT, runNpx } from "./npx.js";
