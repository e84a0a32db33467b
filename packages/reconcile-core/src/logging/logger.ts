import { type DestinationStream, pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/** Keys whose values never reach a log line, wherever they sit in a logged object. */
export const REDACTED_KEYS = [
  "password",
  "pass",
  "token",
  "secret",
  "seed",
  "nkey",
  "creds",
  "authorization",
  "privateKey",
  "signKey",
] as const;

const redactPaths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/**
 * A structured pino logger. The level comes from `LOG_LEVEL` (tests set it to `silent`), and
 * secret-bearing keys are censored so that a config or connection option logged whole never
 * leaks a credential.
 */
export function createLogger(
  name: string,
  options: LoggerOptions = {},
  destination?: DestinationStream,
): Logger {
  const settings: LoggerOptions = {
    name,
    level: process.env.LOG_LEVEL ?? "info",
    redact: { paths: redactPaths, censor: "[redacted]" },
    ...options,
  };
  return destination ? pino(settings, destination) : pino(settings);
}

/** A logger that writes nothing, for libraries used without one. */
export const silentLogger: Logger = pino({ level: "silent" });
