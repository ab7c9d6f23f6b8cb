import type { Certificate } from '../certificate/certificate.js';
import { verifySignature } from '../signature/signature-algorithm.js';

/** The most certificates a chain may hold; deeper hierarchies are a configuration error. */
export const MAX_CHAIN_LENGTH = 10;

/**
 * Candidate issuers of `child` in `pool`: subject equal to child's issuer (byte for byte), key
 * identifiers agreeing when both are present, and the child's signature verifying with their key.
 * Several can match during a root rotation, when old and new roots share a name.
 */
export function issuersOf(child: Certificate, pool: readonly Certificate[]): Certificate[] {
  return pool.filter(
    (c) =>
      c.subjectDer.equals(child.issuerDer) &&
      (child.authorityKeyId === undefined ||
        c.subjectKeyId === undefined ||
        child.authorityKeyId === c.subjectKeyId) &&
      signedBy(child, c) === undefined,
  );
}

/** Why `child`'s signature does not verify with `issuer`'s key, or undefined when it does. */
export function signedBy(child: Certificate, issuer: Certificate): string | undefined {
  let key;
  try {
    key = issuer.publicKey;
  } catch (err) {
    return (err as Error).message;
  }
  return verifySignature(child.signatureAlgorithmOid, key, child.tbsCertificate, child.signatureValue);
}

/** Builds [leaf, issuer, …, topmost found] from `pool`, stopping at a self-signed certificate or when no issuer is found. */
export function buildChain(leaf: Certificate, pool: readonly Certificate[]): Certificate[] {
  const chain = [leaf];
  const seen = new Set([leaf.fingerprintSha256]);
  let current = leaf;
  while (chain.length < MAX_CHAIN_LENGTH && !current.selfSigned) {
    const next = issuersOf(current, pool).find((c) => !seen.has(c.fingerprintSha256));
    if (next === undefined) break;
    chain.push(next);
    seen.add(next.fingerprintSha256);
    current = next;
  }
  return chain;
}
