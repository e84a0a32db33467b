import { canonicalHash, type Manifest, parseManifest } from "@org/reconcile-core";
import { decodeYaml } from "@org/reconcile-core/internal";

/**
 * A manifest as people write it, in a file for `apply -f` or for `run --manifest`: the
 * `Manifest` schema with `generation` optional. Where it is absent the receiver assigns one
 * (`apply`: current + 1; the agent: see `withGeneration`).
 */
export type ManifestDocument = Omit<Manifest, "generation"> & { generation?: number };

export type DocumentResult =
  | { ok: true; document: ManifestDocument }
  | { ok: false; code: "parse" | "invalid"; message: string };

/**
 * Decodes YAML or JSON text and validates it as a manifest whose generation may be absent: the
 * one reader of manifest files, so `apply -f` and `run --manifest` accept the same files.
 * Messages start with `origin` (a file name, `desired-state.pi-7@12`). Never throws.
 */
export function readManifestDocument(text: string, origin: string): DocumentResult {
  const decoded = decodeYaml(text);
  if (!decoded.ok)
    return {
      ok: false,
      code: "parse",
      message: `${origin}: not valid YAML or JSON: ${decoded.message}`,
    };
  const raw = decoded.value;
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    return {
      ok: false,
      code: "invalid",
      message: `${origin}: a manifest is a mapping with \`resources\` (and optionally \`generation\`), not ${raw === null || raw === undefined ? "an empty document" : Array.isArray(raw) ? "a list" : typeof raw}`,
    };
  const given = (raw as { generation?: unknown }).generation;
  const parsed = parseManifest(given === undefined ? { ...raw, generation: 0 } : raw);
  if (!parsed.ok)
    return { ok: false, code: "invalid", message: `${origin}: ${parsed.error.message}` };
  if (given !== undefined) return { ok: true, document: parsed.manifest };
  const { generation: _assigned, ...document } = parsed.manifest;
  return { ok: true, document };
}

/**
 * The manifest a document stands for on an agent whose current manifest is `current`: its own
 * generation when it has one; else the current generation when the resources are the same (a
 * restart re-reading an unchanged file applies nothing again), else the next one.
 */
export function withGeneration(
  document: ManifestDocument,
  current: Manifest | undefined,
): Manifest {
  if (document.generation !== undefined) return { ...document, generation: document.generation };
  const same =
    current !== undefined && canonicalHash(current.resources) === canonicalHash(document.resources);
  const generation = current === undefined ? 1 : same ? current.generation : current.generation + 1;
  return { ...document, generation };
}
