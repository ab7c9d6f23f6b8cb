import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import type { KeySpec } from './key-spec.js';

/** The RSA sizes generatePrivateKey makes: every even number of bits in this range (cert-manager's range). */
export const RSA_GENERATE_MIN_BITS = 2048;
export const RSA_GENERATE_MAX_BITS = 8192;

/** A new private key; ECDSA P-256 unless `spec` says otherwise. */
export function generatePrivateKey(spec: KeySpec = { algorithm: 'ECDSA' }): KeyObject {
  switch (spec.algorithm) {
    case 'ECDSA': {
      const size = spec.size ?? 256;
      if (size !== 256 && size !== 384) {
        throw new MeshcaError('KEY_UNSUPPORTED', `ECDSA size ${size} is not supported`, {
          hint: 'use 256 or 384',
        });
      }
      return generateKeyPairSync('ec', { namedCurve: size === 256 ? 'prime256v1' : 'secp384r1' }).privateKey;
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
      const key = generateKeyPairSync('rsa', { modulusLength: size, publicExponent: 0x10001 }).privateKey;
      const made = key.asymmetricKeyDetails?.modulusLength;
      if (made !== size) {
        throw new MeshcaError(
          'INTERNAL',
          `asked for an RSA key of ${size} bits, OpenSSL made one of ${made ?? 'unknown'} bits`,
        );
      }
      return key;
    }
    case 'Ed25519':
      if (spec.size !== undefined) {
        throw new MeshcaError('KEY_UNSUPPORTED', 'Ed25519 keys have no size', {
          hint: 'leave size unset for Ed25519',
        });
      }
      return generateKeyPairSync('ed25519').privateKey;
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
