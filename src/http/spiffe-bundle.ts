import { createPublicKey, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../errors/index.js';
import type { TrustBundleSnapshot } from './trust-bundle-snapshot.js';

/** One JWK of a SPIFFE bundle: public key parameters only, plus `use` and `x5c` or `kid`. */
export interface SpiffeBundleKey {
  readonly kty: string;
  readonly use: 'x509-svid' | 'jwt-svid';
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly kid?: string;
  readonly x5c?: readonly string[];
}

/** A SPIFFE trust domain bundle: a JWK Set with SPIFFE's two top-level parameters. */
export interface SpiffeBundle {
  readonly keys: readonly SpiffeBundleKey[];
  readonly spiffe_sequence: number;
  readonly spiffe_refresh_hint: number;
}

// The public parameters of each key type (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2). Copying only
// these is what keeps a private parameter (d, p, q …) out of a published bundle.
const PUBLIC_PARAMETERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

/** The public JWK parameters of a key. */
function publicJwk(
  key: KeyObject,
  what: string,
): Pick<SpiffeBundleKey, 'kty' | 'crv' | 'x' | 'y' | 'n' | 'e'> {
  let jwk: Record<string, unknown>;
  try {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    if (pub.type !== 'public') throw new Error(`a ${pub.type} key has no public half`);
    jwk = pub.export({ format: 'jwk' });
  } catch (err) {
    throw new MeshcaError(
      'KEY_UNSUPPORTED',
      `the key of ${what} cannot be written as a JWK: ${(err as Error).message}`,
      {
        hint: 'use ECDSA, RSA or Ed25519 keys in the trust bundle',
        cause: err,
      },
    );
  }
  const out: Record<string, string> = {};
  for (const name of PUBLIC_PARAMETERS) {
    const value = jwk[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out as unknown as Pick<SpiffeBundleKey, 'kty'>;
}

/**
 * The SPIFFE bundle of a trust bundle snapshot (SPIFFE Trust Domain and Bundle §4): one
 * `x509-svid` JWK per root with exactly one DER certificate in `x5c` and no `kid` (X509-SVID
 * §6.1), then one `jwt-svid` JWK per token-signing key, with its `kid` (JWT-SVID §6).
 */
export function buildSpiffeBundle(snapshot: TrustBundleSnapshot): SpiffeBundle {
  // §4.1.1: the sequence must be an integer; a JSON consumer may hold it in 64 bits, and a
  // double is exact only up to 2^53, so anything larger could not be told apart from its neighbour.
  if (!Number.isSafeInteger(snapshot.sequence) || snapshot.sequence < 0) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `the bundle sequence ${snapshot.sequence} is not a non-negative safe integer`,
      {
        hint: 'the trust bundle provider must count versions up from 0',
      },
    );
  }
  // §4.1.2: the refresh hint is an integer number of seconds.
  if (!Number.isSafeInteger(snapshot.refreshHintSeconds) || snapshot.refreshHintSeconds <= 0) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `the bundle refresh hint ${snapshot.refreshHintSeconds} is not a positive whole number of seconds`,
      {
        hint: 'give the refresh hint in whole seconds, e.g. 300',
      },
    );
  }
  const keys: SpiffeBundleKey[] = [];
  const seen = new Set<string>();
  for (const root of snapshot.roots) {
    const der = root.der.toString('base64');
    if (seen.has(der)) continue;
    seen.add(der);
    keys.push({ ...publicJwk(root.publicKey, `root ${root.subjectString}`), use: 'x509-svid', x5c: [der] });
  }
  const kids = new Set<string>();
  for (const { kid, key } of snapshot.jwtKeys ?? []) {
    if (kid === '' || kids.has(kid)) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `the token-signing key ID ${JSON.stringify(kid)} is empty or repeated`,
        {
          hint: 'give every token-signing key its own non-empty kid',
        },
      );
    }
    kids.add(kid);
    keys.push({ ...publicJwk(key, `token-signing key ${kid}`), use: 'jwt-svid', kid });
  }
  return { keys, spiffe_sequence: snapshot.sequence, spiffe_refresh_hint: snapshot.refreshHintSeconds };
}
