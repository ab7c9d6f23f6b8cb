import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JSONWebKeySet, type JWK } from 'jose';
import { algorithmForKey } from './mint-service-account-token.js';

/** One token-signing key to publish, with its key ID (default its RFC 7638 thumbprint). */
export interface TokenSigningKey {
  readonly key: KeyObject;
  readonly kid?: string;
}

/**
 * The JWKS meshca publishes and trusts for tokens it mints: public keys only (a private key
 * given here is reduced to its public half), each with `kid`, `alg` and `use: sig`.
 */
export async function tokenJwks(keys: readonly TokenSigningKey[]): Promise<JSONWebKeySet> {
  const out: JWK[] = [];
  for (const { key, kid } of keys) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    const jwk = await exportJWK(pub);
    out.push({
      ...jwk,
      kid: kid ?? (await calculateJwkThumbprint(jwk)),
      alg: algorithmForKey(pub),
      use: 'sig',
    });
  }
  return { keys: out };
}
