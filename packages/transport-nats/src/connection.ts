import { readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";

/** How to reach NATS. Secrets are read from files or given inline; they are never logged. */
export const NatsOptionsSchema = z
  .object({
    servers: z.union([z.string(), z.array(z.string()).min(1)]).default("nats://127.0.0.1:4222"),
    name: z.string().optional().describe("Client name shown by the server"),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    nkeySeedFile: z.string().optional().describe("File holding an nkey seed (SU...)"),
    credsFile: z.string().optional().describe("A .creds file (JWT + nkey seed)"),
    tls: z
      .object({
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Milliseconds between reconnect attempts (jittered). Reconnects never give up. */
    reconnectWaitMs: z.number().int().positive().default(1_000),
  })
  .strict()
  .refine((o) => [o.token, o.user, o.nkeySeedFile, o.credsFile].filter(Boolean).length <= 1, {
    message: "use one of token, user/pass, nkeySeedFile or credsFile",
  });

export type NatsOptions = z.input<typeof NatsOptionsSchema>;

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

/** The servers of `options`, for logs: never the credentials. */
export function describeNats(options: NatsOptions): string {
  const servers = NatsOptionsSchema.parse(options).servers;
  return (Array.isArray(servers) ? servers : [servers])
    .map((s) => s.replace(/\/\/[^@/]*@/, "//"))
    .join(",");
}
