import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import type { KeySpec } from './key-spec.js';

/** The RSA sizes generatePrivateKey makes: every even number of bits in this range (cert-manager's range). */
export const RSA_GENERATE_MIN_BITS = 2048;
export const RSA_GENERATE_MAX_BITS = 8192;

/** What to ask node:crypto for: checked once, used by the sync and the async generator alike. */
type KeyRequest =
  | { readonly type: 'ec'; readonly options: { namedCurve: string } }
  | { readonly type: 'rsa'; readonly options: { modulusLength: number; publicExponent: number } }
  | { readonly type: 'ed25519' };

function keyRequest(spec: KeySpec): KeyRequest {
  switch (spec.algorithm) {
    case 'ECDSA': {
      const size = spec.size ?? 256;
      if (size !== 256 && size !== 384) {
        throw new MeshcaError('KEY_UNSUPPORTED', `ECDSA size ${size} is not supported`, {
          hint: 'use 256 or 384',
        });
      }
      return { type: 'ec', options: { namedCurve: size === 256 ? 'prime256v1' : 'secp384r1' } };
    }
    case 'RSA': {
      const size = spec.size ?? 2048;
      // OpenSSL makes a modulus of exactly the asked size only when the size is even.
      if (
        !Number.isInteger(size) ||
        size < RSA_GENERATE_MIN_BITS ||
        size > RSA_GENERATE_MAX_BITS ||
        size % 2 !== 0
      ) {
        throw new MeshcaError('KEY_UNSUPPORTED', `RSA size ${size} is not supported`, {
          hint: `use an even number of bits from ${RSA_GENERATE_MIN_BITS} to ${RSA_GENERATE_MAX_BITS} (2048, 3072 and 4096 are usual)`,
        });
      }
      return { type: 'rsa', options: { modulusLength: size, publicExponent: 0x10001 } };
    }
    case 'Ed25519':
      if (spec.size !== undefined) {
        throw new MeshcaError('KEY_UNSUPPORTED', 'Ed25519 keys have no size', {
          hint: 'leave size unset for Ed25519',
        });
      }
      return { type: 'ed25519' };
    default:
      throw new MeshcaError(
        'KEY_UNSUPPORTED',
        `key algorithm "${String((spec as { algorithm: unknown }).algorithm)}" is not supported`,
        {
          hint: 'use ECDSA, RSA or Ed25519',
        },
      );
  }
}

/** The key made, checked to be what was asked for (an RSA modulus of exactly the asked size). */
function checked(request: KeyRequest, key: KeyObject): KeyObject {
  if (request.type === 'rsa') {
    const made = key.asymmetricKeyDetails?.modulusLength;
    if (made !== request.options.modulusLength) {
      throw new MeshcaError(
        'INTERNAL',
        `asked for an RSA key of ${request.options.modulusLength} bits, OpenSSL made one of ${made ?? 'unknown'} bits`,
      );
    }
  }
  return key;
}

/** A new private key; ECDSA P-256 unless `spec` says otherwise. */
export function generatePrivateKey(spec: KeySpec = { algorithm: 'ECDSA' }): KeyObject {
  const request = keyRequest(spec);
  const pair =
    request.type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : request.type === 'ec'
        ? generateKeyPairSync('ec', request.options)
        : generateKeyPairSync('rsa', request.options);
  return checked(request, pair.privateKey);
}

/**
 * generatePrivateKey on libuv's thread pool: an RSA key takes from tens of milliseconds (2048)
 * to tens of seconds (8192) to find, and a controller sharing its event loop with the CA server
 * must not stop for that long. An invalid spec throws before anything starts.
 */
export function generatePrivateKeyAsync(spec: KeySpec = { algorithm: 'ECDSA' }): Promise<KeyObject> {
  const request = keyRequest(spec);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: KeyObject, privateKey: KeyObject): void => {
      if (err !== null) reject(err);
      else {
        try {
          resolve(checked(request, privateKey));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    };
    if (request.type === 'ed25519') generateKeyPair('ed25519', undefined, done);
    else if (request.type === 'ec') generateKeyPair('ec', request.options, done);
    else generateKeyPair('rsa', request.options, done);
  });
}
