import { createPublicKey, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';

/** Key algorithms meshca issues for and signs with. */
export type KeyAlgorithm = 'ECDSA' | 'RSA' | 'Ed25519';

/** An algorithm and, for ECDSA and RSA, a size: ECDSA 256|384, RSA 2048|3072|4096 (bits). */
export interface KeySpec {
  algorithm: KeyAlgorithm;
  size?: number;
}

/** Smallest and largest RSA moduli accepted from outside (policy: RSA ≥ 2048, docs/errors.md). */
export const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 16384;

const specCache = new WeakMap<KeyObject, KeySpec>();

/** The algorithm and size of a private or public key; throws KEY_UNSUPPORTED for anything else. */
export function describeKey(key: KeyObject): KeySpec {
  const cached = specCache.get(key);
  if (cached !== undefined) return cached;
  if (key.type === 'secret') throw new MeshcaError('KEY_UNSUPPORTED', 'a secret (symmetric) key is not an asymmetric key pair');
  let spec: KeySpec;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') spec = { algorithm: 'ECDSA', size: 256 };
      else if (curve === 'secp384r1') spec = { algorithm: 'ECDSA', size: 384 };
      else {
        throw new MeshcaError('KEY_UNSUPPORTED', `the elliptic curve ${curve ?? '(explicit parameters)'} is not supported`, {
          hint: 'use ECDSA P-256 or P-384',
        });
      }
      break;
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw new MeshcaError('KEY_UNSUPPORTED', `an RSA key of ${bits} bits is not accepted`, {
          hint: `use RSA of ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits (2048, 3072 or 4096 to generate)`,
        });
      }
      spec = { algorithm: 'RSA', size: bits };
      break;
    }
    case 'ed25519':
      spec = { algorithm: 'Ed25519' };
      break;
    default:
      throw new MeshcaError('KEY_UNSUPPORTED', `keys of type ${key.asymmetricKeyType ?? 'unknown'} are not supported`, {
        hint: 'use ECDSA P-256/P-384, RSA 2048-4096 or Ed25519',
      });
  }
  specCache.set(key, spec);
  return spec;
}

const spkiCache = new WeakMap<KeyObject, Buffer>();

/**
 * The DER SubjectPublicKeyInfo of a private or public key. Cached per KeyObject, and primed by
 * the CSR parser, so the hot path never re-exports a key it has just imported.
 */
export function subjectPublicKeyInfo(key: KeyObject): Buffer {
  const cached = spkiCache.get(key);
  if (cached !== undefined) return cached;
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  spkiCache.set(key, der);
  return der;
}

/** Imports a DER SubjectPublicKeyInfo, remembering its bytes for subjectPublicKeyInfo(). */
export function importSubjectPublicKeyInfo(der: Buffer, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new MeshcaError('KEY_INVALID', `the public key of the ${what} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  spkiCache.set(key, Buffer.from(der));
  return key;
}

/** True when both keys (private or public) have the same public half. */
export function publicKeysEqual(a: KeyObject, b: KeyObject): boolean {
  return subjectPublicKeyInfo(a).equals(subjectPublicKeyInfo(b));
}
