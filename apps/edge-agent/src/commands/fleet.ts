import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  type Manifest,
  type ManifestStatus,
  ManifestStatusSchema,
  decodeJson,
  encodeJson,
  generateSigningKey,
  KvConflictError,
  type KvStore,
  signManifest,
  TypedKv,
} from "@org/reconcile-core";
import { printTable } from "@org/cli";
import { NatsKvStore } from "@org/transport-nats";
import { z } from "zod";
import { actualKey, desiredKey, HeartbeatSchema, heartbeatKey } from "../fleet.js";
import { readManifestDocument } from "../manifest-document.js";
import { connectForCommand } from "./connect.js";
import { CommandError } from "./errors.js";

export interface FleetOptions {
  nats: string;
  bucket: string;
  token?: string;
  /** Where `nats` came from (commander's value source: cli, env, default), for error hints. */
  natsFrom?: string;
}

type Out = (line: string) => void;

async function withFleet<T>(options: FleetOptions, fn: (kv: KvStore) => Promise<T>): Promise<T> {
  const nc = await connectForCommand(
    {
      servers: options.nats,
      name: "edge-agent cli",
      ...(options.token ? { token: options.token } : {}),
    },
    options.natsFrom,
  );
  try {
    return await fn(await NatsKvStore.open(nc, options.bucket));
  } finally {
    await nc.drain().catch(() => undefined);
  }
}

const GenerationOnly = z.object({ generation: z.number().int() }).loose();

/** The value at `key` if it is valid for `schema`; absent or someone else's garbage reads as undefined, never a crash. */
function readValid<T>(kv: KvStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  return new TypedKv(kv, schema).get(key).then(
    (entry) => entry?.value,
    () => undefined,
  );
}

/**
 * Reads the private key for `--sign-key FILE` and checks that it can sign, so a wrong file is
 * an error naming the file and the fix (a `.pub` given for the `.key`), never OpenSSL's code.
 */
export async function readSigningKey(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (err) {
    throw new CommandError(
      "SignKeyUnreadable",
      `cannot read --sign-key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Give the private key file that \`edge-agent keygen\` wrote (NAME.key).`,
      { file },
      2,
    );
  }
  if (pem.includes("PUBLIC KEY-----"))
    throw new CommandError(
      "SignKeyIsPublic",
      `--sign-key ${file} is a public key; signing needs the private key. Give the NAME.key file that \`edge-agent keygen\` wrote next to ${basename(file)} (the .pub file goes in the agent's trust.keys).`,
      { file },
      2,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CommandError(
      "SignKeyInvalid",
      `--sign-key ${file} is not a private key in PEM form. Give the NAME.key file that \`edge-agent keygen\` wrote.`,
      { file },
      2,
    );
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new CommandError(
      "SignKeyInvalid",
      `--sign-key ${file} is an ${key.asymmetricKeyType} key; manifests are signed with ed25519 keys. Make one with \`edge-agent keygen\`.`,
      { file },
      2,
    );
  return pem;
}

export interface ApplyOptions extends FleetOptions {
  /** The private key's PEM text (see `readSigningKey`). */
  signKey?: string;
  /** Wait this long for the agent's verdict; absent: publish and return. */
  waitMs?: number;
}

/**
 * `apply --agent ID -f manifest.yaml`: generation = current + 1, written with compare-and-set
 * (retried when another writer wins). With `waitMs`, waits for the agent's verdict: exit 0 once
 * it processed every resource of the generation and none failed, 1 when it rejected the
 * manifest, a resource failed, or it did not answer in time.
 */
export async function applyManifest(
  agent: string,
  text: string,
  origin: string,
  options: ApplyOptions,
  out: Out,
): Promise<number> {
  const read = readManifestDocument(text, origin);
  if (!read.ok) throw new CommandError("InvalidManifest", read.message, { file: origin }, 2);
  return withFleet(options, async (kv) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await kv.get(desiredKey(agent));
      // The next generation is above both what is desired and what the agent last took: a
      // broken or rolled-back desired value must not make the new manifest look stale.
      const [desired, applied] = await Promise.all([
        readValid(kv, desiredKey(agent), GenerationOnly),
        readValid(kv, actualKey(agent), ManifestStatusSchema),
      ]);
      const generation = Math.max(desired?.generation ?? 0, applied?.manifestGeneration ?? 0) + 1;
      const { signature: _unsigned, ...document } = read.document;
      const unsigned = { ...document, generation };
      const manifest: Manifest = options.signKey
        ? signManifest(unsigned, options.signKey)
        : unsigned;
      // The agent's status revision before the write: a verdict is only what comes after it.
      let revision: number;
      try {
        revision = await kv.update(desiredKey(agent), encodeJson(manifest), current?.revision ?? 0);
      } catch (err) {
        if (err instanceof KvConflictError) continue;
        throw err;
      }
      out(
        `applied generation ${manifest.generation} to ${agent} (revision ${revision}${manifest.signature ? `, signed by ${manifest.signature.keyId}` : ""})`,
      );
      if (options.waitMs === undefined) return 0;
      return waitForVerdict(kv, agent, { generation, revision }, options.waitMs, out);
    }
    out(`another writer kept changing desired-state.${agent}; try again`);
    return 1;
  });
}

/** A resource of the applied generation that did not become Ready. */
export interface FailedResource {
  id: string;
  kind: string;
  state: string;
  error: string;
}

/** What the agent made of one applied manifest, from its status. */
export type Verdict =
  | { type: "converged"; ready: number }
  | { type: "failed"; failures: FailedResource[] }
  | { type: "rejected"; reason: string; message: string }
  | { type: "superseded"; by: number };

/**
 * The agent's verdict on the manifest written at `revision` of `desired-state.<agent>` with
 * `generation`, or undefined while it has none yet. A rejection counts only when it names that
 * revision (the agent's message starts with `desired-state.<agent>@<revision>:`), so an older
 * rejection still in the status is not taken for this one.
 */
export function verdictOf(
  status: ManifestStatus,
  agent: string,
  applied: { generation: number; revision: number },
): Verdict | undefined {
  if (status.manifestGeneration > applied.generation)
    return { type: "superseded", by: status.manifestGeneration };
  const rejected = status.conditions.find(
    (c) => c.type === "ManifestRejected" && c.status === "True",
  );
  if (
    rejected &&
    status.manifestGeneration < applied.generation &&
    rejected.message?.startsWith(`${desiredKey(agent)}@${applied.revision}:`)
  )
    return {
      type: "rejected",
      reason: rejected.reason ?? "ManifestRejected",
      message: rejected.message,
    };
  if (
    status.manifestGeneration !== applied.generation ||
    status.observedGeneration < applied.generation
  )
    return undefined;
  const resources = Object.entries(status.resources);
  const failures = resources.flatMap(([id, r]): FailedResource[] =>
    r.state === "Failed"
      ? [{ id, kind: r.kind, state: r.state, error: r.error }]
      : r.state === "Unknown"
        ? [{ id, kind: r.kind, state: r.state, error: r.reason }]
        : [],
  );
  if (failures.length > 0) return { type: "failed", failures };
  return { type: "converged", ready: resources.filter(([, r]) => r.state === "Ready").length };
}

async function waitForVerdict(
  kv: KvStore,
  agent: string,
  applied: { generation: number; revision: number },
  waitMs: number,
  out: Out,
): Promise<number> {
  const key = actualKey(agent);
  const watch = await kv.watch(key);
  const timer = setTimeout(() => watch.stop(), waitMs);
  let verdict: Verdict | undefined;
  try {
    for await (const entry of watch) {
      if (entry.operation !== "PUT") continue;
      const parsed = ManifestStatusSchema.safeParse(decodeJsonValue(entry.value));
      if (!parsed.success) continue;
      verdict = verdictOf(parsed.data, agent, applied);
      if (verdict) break;
    }
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
  const g = `generation ${applied.generation}`;
  switch (verdict?.type) {
    case "converged":
      out(`${agent} converged on ${g}: ${verdict.ready} resources ready`);
      return 0;
    case "superseded":
      out(`${agent} moved on to generation ${verdict.by} before reporting on ${g}`);
      return 0;
    case "rejected":
      throw new CommandError(
        "ManifestRejected",
        `${agent} rejected ${g} (${verdict.reason}): ${verdict.message}`,
        { agent, generation: applied.generation, reason: verdict.reason },
      );
    case "failed":
      throw new CommandError(
        "ResourcesFailed",
        `${agent} applied ${g}, but ${verdict.failures.length} resource(s) failed: ${verdict.failures.map((f) => `${f.kind} ${f.id}: ${f.error}`).join("; ")}. \`edge-agent status ${agent}\` shows them.`,
        { agent, generation: applied.generation, failures: verdict.failures },
      );
    case undefined:
      throw new CommandError(
        "NoVerdict",
        `${agent} gave no verdict on ${g} within ${waitMs / 1000}s. Check that the agent runs and is connected (\`edge-agent fleet\` shows its heartbeat age), or wait longer with --timeout.`,
        { agent, generation: applied.generation, timeoutMs: waitMs },
      );
  }
}

const decodeJsonValue = (value: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(value));
  } catch {
    return undefined;
  }
};

/** `status ID`: per resource kind, id, state, since, error. */
export async function showStatus(
  agent: string,
  options: FleetOptions & { json?: boolean },
  out: Out,
): Promise<number> {
  return withFleet(options, async (kv) => {
    const key = actualKey(agent);
    const entry = await kv.get(key);
    if (!entry)
      throw new CommandError(
        "NoStatus",
        `no status from ${agent} yet: ${key} in bucket ${options.bucket} is empty. Check the agent id (\`edge-agent fleet\` lists the agents) and that the agent runs with this NATS server and bucket.`,
        { agent, bucket: options.bucket, key },
      );
    const status = decodeJson(ManifestStatusSchema, key, entry.revision, entry.value);
    if (options.json) {
      out(JSON.stringify(status, null, 2));
      return 0;
    }
    out(
      `${agent}: generation ${status.observedGeneration}/${status.manifestGeneration}  ${status.conditions.map((c) => `${c.type}=${c.status}${c.status === "True" && c.message ? ` (${c.message})` : ""}`).join("  ")}`,
    );
    printTable(
      [
        ["KIND", "ID", "STATE", "SINCE", "ERROR"],
        ...Object.entries(status.resources).map(([id, r]) => [
          r.kind,
          id,
          r.state,
          r.since,
          r.state === "Failed" ? r.error : r.state === "Unknown" ? r.reason : "",
        ]),
      ],
      out,
    );
    return 0;
  });
}

export interface FleetRow {
  agent: string;
  desiredGeneration?: number;
  appliedGeneration?: number;
  observedGeneration?: number;
  ready: number;
  failed: number;
  heartbeatAgeSeconds?: number;
  converged: boolean;
}

/** `fleet`: one row per agent, from the desired-state, actual-state and heartbeat keys. */
export async function showFleet(
  options: FleetOptions & { json?: boolean },
  out: Out,
): Promise<number> {
  return withFleet(options, async (kv) => {
    const agents = new Set<string>();
    for (const prefix of ["desired-state", "actual-state", "heartbeat"])
      for (const key of await kv.keys(`${prefix}.*`)) agents.add(key.slice(prefix.length + 1));
    const rows: FleetRow[] = [];
    for (const agent of [...agents].sort()) {
      const [desired, status, heartbeat] = await Promise.all([
        readValid(kv, desiredKey(agent), GenerationOnly),
        readValid(kv, actualKey(agent), ManifestStatusSchema),
        readValid(kv, heartbeatKey(agent), HeartbeatSchema),
      ]);
      const desiredGeneration = desired?.generation;
      const states = Object.values(status?.resources ?? {});
      const ready = status?.conditions.find((c) => c.type === "Ready")?.status === "True";
      rows.push({
        agent,
        ...(desiredGeneration === undefined ? {} : { desiredGeneration }),
        ...(status
          ? {
              appliedGeneration: status.manifestGeneration,
              observedGeneration: status.observedGeneration,
            }
          : {}),
        ready: states.filter((s) => s.state === "Ready").length,
        failed: states.filter((s) => s.state === "Failed").length,
        ...(heartbeat
          ? { heartbeatAgeSeconds: Math.round((Date.now() - Date.parse(heartbeat.at)) / 1000) }
          : {}),
        converged:
          status !== undefined &&
          desiredGeneration !== undefined &&
          status.observedGeneration === desiredGeneration &&
          ready,
      });
    }
    if (options.json) {
      out(JSON.stringify(rows, null, 2));
      return 0;
    }
    printTable(
      [
        ["AGENT", "DESIRED", "APPLIED", "OBSERVED", "READY", "FAILED", "HEARTBEAT", "CONVERGED"],
        ...rows.map((r) => [
          r.agent,
          String(r.desiredGeneration ?? "-"),
          String(r.appliedGeneration ?? "-"),
          String(r.observedGeneration ?? "-"),
          String(r.ready),
          String(r.failed),
          r.heartbeatAgeSeconds === undefined ? "-" : `${r.heartbeatAgeSeconds}s`,
          r.converged ? "yes" : "no",
        ]),
      ],
      out,
    );
    return 0;
  });
}

/** `keygen`: an ed25519 key pair for signing manifests. */
export async function keygen(dir: string, name: string, out: Out): Promise<number> {
  const key = generateSigningKey();
  await writeFile(join(dir, `${name}.key`), key.privateKeyPem, { mode: 0o600, flag: "wx" });
  await writeFile(join(dir, `${name}.pub`), key.publicKeyPem, { flag: "wx" });
  out(
    `wrote ${join(dir, `${name}.key`)} (private, keep it secret) and ${join(dir, `${name}.pub`)} (list it in trust.keys); key id ${key.keyId}`,
  );
  return 0;
}
