import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import type { KeySpec } from './key-spec.js';

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
      if (size !== 2048 && size !== 3072 && size !== 4096) {
        throw new MeshcaError('KEY_UNSUPPORTED', `RSA size ${size} is not supported`, {
          hint: 'use 2048, 3072 or 4096',
        });
      }
      return generateKeyPairSync('rsa', { modulusLength: size, publicExponent: 0x10001 }).privateKey;
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
