import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { canonicalJson } from "../canonical/canonical.js";
import type { Manifest } from "./manifest.js";

/** A public key the agent trusts, with its id (the first 16 hex digits of the SHA-256 of its DER form). */
export interface TrustedKey {
  id: string;
  key: KeyObject;
}

/** The key id of an ed25519 public key: short, stable, and safe to print. */
export function keyId(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);
}

/** A new ed25519 key pair as PEM text, with its key id. */
export function generateSigningKey(): {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyId(publicKey),
  };
}

export function trustedKeyFromPem(pem: string): TrustedKey {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== "ed25519")
    throw new Error(`trusted keys must be ed25519, got ${key.asymmetricKeyType}`);
  return { id: keyId(key), key };
}

/** The bytes that are signed: the canonical JSON of the manifest without its `signature`. */
export function signedBytes(manifest: Manifest): Buffer {
  const { signature: _signature, ...unsigned } = manifest;
  return Buffer.from(canonicalJson(unsigned));
}

/** Signs `manifest` with an ed25519 private key (PEM); returns a copy carrying the signature. */
export function signManifest(manifest: Manifest, privateKeyPem: string): Manifest {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw new Error(`signing keys must be ed25519, got ${privateKey.asymmetricKeyType}`);
  const { signature: _old, ...unsigned } = manifest;
  const value = sign(null, signedBytes(unsigned), privateKey).toString("base64");
  return {
    ...unsigned,
    signature: { algorithm: "ed25519", keyId: keyId(createPublicKey(privateKey)), value },
  };
}

export type SignatureCheck =
  | { ok: true; keyId?: string }
  | { ok: false; reason: "unsigned" | "unknown-key" | "bad-signature"; message: string };

/**
 * Checks a manifest against the trusted keys. Unsigned manifests pass only when signatures
 * are not required; a signature that is present is always checked.
 */
export function verifyManifest(
  manifest: Manifest,
  trusted: TrustedKey[],
  required: boolean,
): SignatureCheck {
  const signature = manifest.signature;
  if (!signature) {
    return required
      ? {
          ok: false,
          reason: "unsigned",
          message: "manifest is not signed, and this agent requires signed manifests",
        }
      : { ok: true };
  }
  const key = trusted.find((k) => k.id === signature.keyId);
  if (!key)
    return {
      ok: false,
      reason: "unknown-key",
      message: `manifest is signed by key ${signature.keyId}, which this agent does not trust`,
    };
  const good = verify(null, signedBytes(manifest), key.key, Buffer.from(signature.value, "base64"));
  return good
    ? { ok: true, keyId: key.id }
    : {
        ok: false,
        reason: "bad-signature",
        message: `manifest signature does not verify with key ${key.id}`,
      };
}
