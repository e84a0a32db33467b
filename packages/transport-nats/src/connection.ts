import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { describeNats, type NatsOptions, NatsOptionsSchema } from "./options.js";

/** nats.js options for `options`: reconnect forever, wait for the first connection, authenticate as configured. */
export function natsConnectionOptions(input: NatsOptions): ConnectionOptions {
  const o = NatsOptionsSchema.parse(input);
  const options: ConnectionOptions = {
    servers: o.servers,
    ...(o.name ? { name: o.name } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: o.reconnectWaitMs,
    reconnectJitter: Math.round(o.reconnectWaitMs / 2),
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    // Else every request (each KV write) builds two Errors with stack traces up front; the
    // callers' errors name the key or subject themselves.
    noAsyncTraces: true,
  };
  if (o.user) Object.assign(options, { user: o.user, pass: o.pass ?? "" });
  if (o.token) options.token = o.token;
  if (o.nkeySeedFile)
    options.authenticator = nkeyAuthenticator(
      new TextEncoder().encode(readFileSync(o.nkeySeedFile, "utf8").trim()),
    );
  if (o.credsFile)
    options.authenticator = credsAuthenticator(new Uint8Array(readFileSync(o.credsFile)));
  if (o.tls) {
    options.tls = {
      ...(o.tls.caFile ? { caFile: o.tls.caFile } : {}),
      ...(o.tls.certFile ? { certFile: o.tls.certFile } : {}),
      ...(o.tls.keyFile ? { keyFile: o.tls.keyFile } : {}),
    };
  }
  return options;
}

export interface FirstConnectOptions {
  /**
   * Give up on the first connection after this many milliseconds (each server is tried once)
   * with an error naming the servers, instead of waiting for NATS however long it takes. For
   * short-lived commands; once connected, the connection reconnects forever as usual.
   */
  firstConnectTimeoutMs?: number;
  /**
   * Stop waiting for the first connection when this aborts: the promise rejects with the
   * signal's reason, and a connection that arrives afterwards is closed. For a daemon that
   * boots offline and must still stop at once (nats.js's own wait cannot be cancelled and keeps
   * the process alive). Not with `firstConnectTimeoutMs`, which bounds the wait itself.
   */
  signal?: AbortSignal;
}

/**
 * Connects and reconnects forever. Without `firstConnectTimeoutMs` it waits for the first
 * connection however long it takes (a daemon that boots offline); with it, it fails fast.
 */
export function connectNats(
  options: NatsOptions,
  { firstConnectTimeoutMs, signal }: FirstConnectOptions = {},
): Promise<NatsConnection> {
  if (signal && firstConnectTimeoutMs !== undefined)
    throw new TypeError(
      "connectNats: give firstConnectTimeoutMs (a command that fails fast) or signal (a daemon that waits until stopped), not both",
    );
  if (signal) return connectUntilAborted(options, signal);
  if (firstConnectTimeoutMs === undefined) return connect(natsConnectionOptions(options));
  return connectWithin(options, firstConnectTimeoutMs);
}

async function connectWithin(options: NatsOptions, ms: number): Promise<NatsConnection> {
  const attempt = connect({
    ...natsConnectionOptions(options),
    waitOnFirstConnect: false,
    // nats.js bounds each server's dial by `timeout`; the race below also bounds name lookups.
    timeout: ms,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error("timeout"), { name: "TimeoutError" })),
      ms,
    );
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (err) {
    // A connection that arrives after we gave up is closed, not leaked.
    attempt.then(
      (nc) => nc.close().catch(() => undefined),
      () => undefined,
    );
    throw new Error(`cannot connect to NATS at ${describeNats(options)}: ${reason(err, ms)}`, {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Why a first connection failed, in words: nats.js says "connection refused" or "timeout" and keeps the detail in `cause`. */
function reason(err: unknown, ms: number): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError") return `no NATS answer within ${ms} ms`;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return `the host name does not resolve (${err.message})`;
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== err.message ? `${err.message} (${cause})` : err.message;
}

/**
 * Waits for the first connection however long it takes, until `signal` aborts. Each attempt
 * tries every server once (`waitOnFirstConnect` off) and the wait between attempts is ours, so
 * an abort ends the wait at once; only a dial already under way runs on, until it fails or
 * connects (then it is closed), within nats.js's dial timeout.
 */
async function connectUntilAborted(
  options: NatsOptions,
  signal: AbortSignal,
): Promise<NatsConnection> {
  const { reconnectWaitMs } = NatsOptionsSchema.parse(options);
  const once: ConnectionOptions = { ...natsConnectionOptions(options), waitOnFirstConnect: false };
  for (;;) {
    signal.throwIfAborted();
    const attempt = connect(once);
    try {
      return await untilAborted(attempt, signal);
    } catch (err) {
      if (signal.aborted) {
        attempt.then(
          (nc) => nc.close().catch(() => undefined),
          () => undefined,
        );
        throw err;
      }
    }
    // Jittered like nats.js's own reconnects, so a fleet that lost its server does not return in step.
    const wait = reconnectWaitMs + Math.random() * (reconnectWaitMs / 2);
    // An abort clears the timer (and rejects with the AbortError; the loop then throws the reason).
    await sleep(wait, undefined, { signal }).catch(() => undefined);
  }
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** How long `closeNats` lets a connection drain by default before it closes it regardless. */
export const DEFAULT_DRAIN_GRACE_MS = 2_000;

const CLOSE_WAIT_MS = 500;

/**
 * Drains `nc` (its subscriptions, then what is still to be sent) for at most `graceMs`, then
 * closes it, whatever state it is in; returns within `graceMs` + 0.5 s. nats.js's `drain()`
 * alone is not enough: when the server is gone its final flush fails, the connection is left
 * open, and it goes on reconnecting for ever, which keeps the process alive. Whatever was not
 * sent within the grace is lost. (One socket nats.js never closes, a dial that timed out
 * before the server spoke, is beyond reach here: a daemon exits once it has stopped.)
 */
export async function closeNats(
  nc: NatsConnection,
  graceMs: number = DEFAULT_DRAIN_GRACE_MS,
): Promise<void> {
  if (nc.isClosed()) return;
  const drained = nc.isDraining() ? Promise.resolve() : nc.drain().catch(() => undefined);
  await within(drained, graceMs);
  // Closing only flushes an empty write to a live socket; the bound covers a stale one.
  await within(
    nc.close().catch(() => undefined),
    CLOSE_WAIT_MS,
  );
}

/** Waits for `promise` at most `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}
