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

/** The servers of `options`, for logs: never the credentials. */
export function describeNats(options: NatsOptions): string {
  const servers = NatsOptionsSchema.parse(options).servers;
  return (Array.isArray(servers) ? servers : [servers])
    .map((s) => s.replace(/\/\/[^@/]*@/, "//"))
    .join(",");
}
