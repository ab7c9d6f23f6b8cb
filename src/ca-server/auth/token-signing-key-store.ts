import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { createPublicKey } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import { encodePrivateKey, generatePrivateKey, parsePrivateKey } from '../../pki/index.js';
import type { Store } from '../../store/store.js';

/** The Secret holding meshca's token-signing key, in the certificate namespace. */
export const TOKEN_KEY_SECRET = 'meshca-token-signing-key';
/** The `iss` of tokens meshca mints. */
export const MESHCA_TOKEN_ISSUER = 'meshca';

/** A token-signing key and its key ID. */
export interface StoredTokenKey {
  readonly key: KeyObject;
  readonly kid: string;
}

async function kidOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(createPublicKey(key)));
}

/** Reads meshca's token-signing key, or undefined when none was made yet. */
export async function loadTokenSigningKey(
  store: Store,
  namespace: string,
): Promise<StoredTokenKey | undefined> {
  const secret = await store.tryGet<Resource>({
    apiVersion: 'v1',
    kind: 'Secret',
    namespace,
    name: TOKEN_KEY_SECRET,
  });
  const data = secret?.['data'] as Record<string, string> | undefined;
  const pem = data?.['key.pem'];
  if (pem === undefined) return undefined;
  const key = parsePrivateKey(Buffer.from(pem, 'base64').toString('utf8'));
  return { key, kid: await kidOf(key) };
}

/** Returns meshca's token-signing key, making it (ECDSA P-256, a Secret) on first use. */
export async function ensureTokenSigningKey(store: Store, namespace: string): Promise<StoredTokenKey> {
  const existing = await loadTokenSigningKey(store, namespace);
  if (existing !== undefined) return existing;
  const key = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
  try {
    await store.create<Resource>({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: TOKEN_KEY_SECRET,
        namespace,
        annotations: { 'meshca.io/purpose': 'service-account token signing' },
      },
      type: 'Opaque',
      data: { 'key.pem': Buffer.from(encodePrivateKey(key, 'PKCS8')).toString('base64') },
    });
  } catch (err) {
    // Another process made it first: use theirs.
    if (isMeshcaError(err, 'ALREADY_EXISTS')) {
      const theirs = await loadTokenSigningKey(store, namespace);
      if (theirs !== undefined) return theirs;
    }
    throw err;
  }
  return { key, kid: await kidOf(key) };
}
