import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Manifest } from "./manifest.js";
import {
  generateSigningKey,
  signManifest,
  trustedKeyFromPem,
  verifyManifest,
} from "./signature.js";

const manifest: Manifest = {
  generation: 3,
  resources: [
    { kind: "File", id: "motd", spec: { path: "/srv/motd", content: "hi", mode: "0644" } },
  ],
};
const signer = generateSigningKey();
const trusted = [trustedKeyFromPem(signer.publicKeyPem)];

describe("manifest signatures (ed25519 over canonical JSON)", () => {
  it("verifies a signed manifest, whatever the key order after a round trip", () => {
    const signed = signManifest(manifest, signer.privateKeyPem);
    expect(signed.signature).toMatchObject({ algorithm: "ed25519", keyId: signer.keyId });
    const reordered = JSON.parse(
      JSON.stringify({
        signature: signed.signature,
        resources: signed.resources,
        generation: signed.generation,
      }),
    );
    expect(verifyManifest(reordered, trusted, true)).toEqual({ ok: true, keyId: signer.keyId });
  });

  it("refuses a tampered manifest, an unknown key, and an unsigned one when required", () => {
    const signed = signManifest(manifest, signer.privateKeyPem);
    expect(verifyManifest({ ...signed, generation: 4 }, trusted, true)).toMatchObject({
      ok: false,
      reason: "bad-signature",
    });
    const other = generateSigningKey();
    expect(
      verifyManifest(signManifest(manifest, other.privateKeyPem), trusted, false),
    ).toMatchObject({ ok: false, reason: "unknown-key" });
    expect(verifyManifest(manifest, trusted, true)).toMatchObject({
      ok: false,
      reason: "unsigned",
    });
    expect(verifyManifest(manifest, trusted, false)).toEqual({ ok: true });
  });

  it("any change to a signed manifest's content breaks the signature (property)", () => {
    const signed = signManifest(manifest, signer.privateKeyPem);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (content) => {
        fc.pre(content !== "hi");
        const tampered = {
          ...signed,
          resources: [{ ...signed.resources[0]!, spec: { ...signed.resources[0]!.spec, content } }],
        };
        expect(verifyManifest(tampered, trusted, true).ok).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
