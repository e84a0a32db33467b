import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, describeNats, type NatsOptions } from "@org/transport-nats";
import { CommandError } from "./errors.js";

/** How long an operator command waits for NATS before it gives up and says why. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Where `--nats` came from (commander's option value source), to say what to change. */
const URL_FROM: Record<string, string> = {
  cli: "The URL was given with --nats.",
  env: "The URL comes from NATS_URL.",
  default: "The URL is the default (neither --nats nor NATS_URL is set).",
};

const AUTH_ERRORS = new Set(["AuthorizationError", "UserAuthenticationExpiredError"]);

/**
 * Connects for an operator command: fails within `CONNECT_TIMEOUT_MS` with an error naming the
 * server and what to do (`NatsUnreachable`, or `NatsAuthFailed` when the server refused the
 * credentials), never waiting for NATS to appear.
 */
export async function connectForCommand(
  nats: NatsOptions,
  urlFrom?: string,
): Promise<NatsConnection> {
  try {
    return await connectNats(nats, { firstConnectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (err) {
    const details = { servers: describeNats(nats), timeoutMs: CONNECT_TIMEOUT_MS };
    const message = `${(err as Error).message}.`;
    const cause = (err as Error).cause;
    if (cause instanceof Error && AUTH_ERRORS.has(cause.name))
      throw new CommandError(
        "NatsAuthFailed",
        `${message} Check the token: --token or NATS_TOKEN (the agent itself reads EDGE_AGENT_NATS_TOKEN).`,
        details,
      );
    throw new CommandError(
      "NatsUnreachable",
      [
        message,
        (urlFrom && URL_FROM[urlFrom]) ?? "",
        "Check the URL and that nats-server runs there; choose the server with --nats or NATS_URL (the agent itself reads EDGE_AGENT_NATS_URL).",
      ]
        .filter(Boolean)
        .join(" "),
      details,
    );
  }
}
