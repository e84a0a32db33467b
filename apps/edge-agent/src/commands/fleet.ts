import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ManifestStatusSchema,
  decodeJson,
  encodeJson,
  generateSigningKey,
  KvConflictError,
  type KvStore,
  parseManifest,
  signManifest,
  TypedKv,
} from "@org/reconcile-core";
import { decodeYaml } from "@org/reconcile-core/internal";
import { printTable } from "@org/cli";
import { NatsKvStore } from "@org/transport-nats";
import { z } from "zod";
import { actualKey, desiredKey, HeartbeatSchema, heartbeatKey } from "../fleet.js";
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

/** `apply --agent ID -f manifest.yaml`: generation = current + 1, written with compare-and-set (retried when another writer wins). */
export async function applyManifest(
  agent: string,
  text: string,
  options: FleetOptions & { signKey?: string },
  out: Out,
): Promise<number> {
  const decoded = decodeYaml(text);
  if (!decoded.ok) {
    out(`manifest is not valid YAML or JSON: ${decoded.message}`);
    return 1;
  }
  const raw = decoded.value;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    out("manifest must be a mapping with `resources`");
    return 1;
  }
  return withFleet(options, async (kv) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await kv.get(desiredKey(agent));
      // The next generation is above both what is desired and what the agent last took: a
      // broken or rolled-back desired value must not make the new manifest look stale.
      const [desired, applied] = await Promise.all([
        readValid(kv, desiredKey(agent), GenerationOnly),
        readValid(kv, actualKey(agent), ManifestStatusSchema),
      ]);
      const generation = Math.max(desired?.generation ?? 0, applied?.manifestGeneration ?? 0);
      const checked = parseManifest({
        ...(raw as Record<string, unknown>),
        generation: generation + 1,
        signature: undefined,
      });
      if (!checked.ok) {
        out(checked.error.message);
        return 1;
      }
      const manifest = options.signKey
        ? signManifest(checked.manifest, options.signKey)
        : checked.manifest;
      try {
        const revision = await kv.update(
          desiredKey(agent),
          encodeJson(manifest),
          current?.revision ?? 0,
        );
        out(
          `applied generation ${manifest.generation} to ${agent} (revision ${revision}${manifest.signature ? `, signed by ${manifest.signature.keyId}` : ""})`,
        );
        return 0;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
      }
    }
    out(`another writer kept changing desired-state.${agent}; try again`);
    return 1;
  });
}

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
