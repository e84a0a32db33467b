import { z } from "zod";
import { formatIssues } from "../errors.js";
import { decodeYaml } from "../util/yaml.js";

/** A resource id: stable across generations, the diff key. Safe as a file name and a NATS token part. */
export const ResourceIdSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/,
    "ids start with a letter or digit and use only letters, digits and . _ : / -",
  );

export const ResourceSchema = z
  .object({
    kind: z.string().min(1).describe("Registered resource kind, e.g. File, Container, SystemdUnit"),
    id: ResourceIdSchema.describe("Stable identity of the resource across generations"),
    spec: z
      .record(z.string(), z.unknown())
      .describe("Kind-specific spec, validated by the kind's own schema"),
  })
  .strict();

export const ManifestSignatureSchema = z
  .object({
    algorithm: z.literal("ed25519"),
    keyId: z.string().min(1).describe("Which trusted key signed (a name or the key's fingerprint)"),
    value: z
      .string()
      .min(1)
      .describe("Base64 signature over the canonical JSON of the manifest without `signature`"),
  })
  .strict();

export const ManifestSchema = z
  .object({
    generation: z.number().int().nonnegative().describe("Monotonic version of the desired state"),
    resources: z.array(ResourceSchema),
    signature: ManifestSignatureSchema.optional(),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    const seen = new Set<string>();
    const duplicates = new Set<string>();
    for (const r of manifest.resources) {
      if (seen.has(r.id)) duplicates.add(r.id);
      seen.add(r.id);
    }
    if (duplicates.size > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["resources"],
        message: `duplicate resource ids: ${[...duplicates].join(", ")}`,
      });
    }
  });

/** A resource as the controller sees it; `Spec` is the kind's validated spec type. */
export interface Resource<Spec = Record<string, unknown>> {
  kind: string;
  id: string;
  spec: Spec;
}

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestSignature = z.infer<typeof ManifestSignatureSchema>;

/** Why a manifest was refused: it could not be read as YAML/JSON, or it is not a valid manifest. */
export interface ManifestError {
  code: "parse" | "invalid";
  message: string;
}

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; error: ManifestError };

/** Validates an already-decoded value as a manifest. Never throws. */
export function parseManifest(value: unknown): ManifestResult {
  const result = ManifestSchema.safeParse(value);
  if (result.success) return { ok: true, manifest: result.data };
  return {
    ok: false,
    error: { code: "invalid", message: `invalid manifest: ${formatIssues(result.error)}` },
  };
}

/** Decodes YAML or JSON text (JSON is YAML) and validates it as a manifest. Never throws. */
export function parseManifestText(text: string): ManifestResult {
  const decoded = decodeYaml(text);
  if (!decoded.ok)
    return {
      ok: false,
      error: { code: "parse", message: `manifest is not valid YAML or JSON: ${decoded.message}` },
    };
  return parseManifest(decoded.value);
}
