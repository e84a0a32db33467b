export { collect, keyValues } from "./collect.js";
export { CliError, type ErrorJson, errorJson, invalidInput, UsageError } from "./errors.js";
export { exitQuietlyOnClosedPipe, print, printJson } from "./output.js";
export { createProgram, jsonOption, packageVersion, runProgram } from "./program.js";
export { STOP_SIGNALS, waitForSignal } from "./signal.js";
export { formatTable, printTable } from "./table.js";
