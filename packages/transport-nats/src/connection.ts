import { readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { type NatsOptions, NatsOptionsSchema } from "./options.js";

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

/** Connects (waiting for the first connection however long it takes) and reconnects forever. */
export function connectNats(options: NatsOptions): Promise<NatsConnection> {
  return connect(natsConnectionOptions(options));
}
