import { createPrivateKey, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { pemDecodeAll } from '../pem/pem.js';
import { describeKey } from './key-spec.js';

const LABEL_FORMATS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * Reads a private key: PEM PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or the same as DER bytes.
 * Throws KEY_INVALID when unreadable, KEY_UNSUPPORTED for algorithms or sizes meshca refuses.
 */
export function parsePrivateKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  if (typeof pem !== 'string' && pem[0] === 0x30) {
    key = importDer(pem);
  } else {
    const text = typeof pem === 'string' ? pem : pem.toString('latin1');
    let blocks;
    try {
      blocks = pemDecodeAll(text);
    } catch (err) {
      throw new MeshcaError('KEY_INVALID', `the private key is not PEM: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY')) {
      throw new MeshcaError(
        'KEY_INVALID',
        'the private key is encrypted; meshca reads unencrypted keys only',
        {
          hint: 'decrypt it first: openssl pkcs8 -in key.pem -out plain.pem',
        },
      );
    }
    // "EC PARAMETERS" may precede an SEC1 key (openssl ecparam -genkey); it is skipped.
    const block = blocks.find((b) => LABEL_FORMATS[b.label] !== undefined);
    if (block === undefined) {
      throw new MeshcaError(
        'KEY_INVALID',
        `no private key block found (found ${blocks.map((b) => `"${b.label}"`).join(', ')})`,
        {
          hint: 'expected "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY"',
        },
      );
    }
    const type = LABEL_FORMATS[block.label] ?? 'pkcs8';
    try {
      key = createPrivateKey({ key: block.der, format: 'der', type });
    } catch (err) {
      throw new MeshcaError(
        'KEY_INVALID',
        `the "${block.label}" block is not a valid ${type.toUpperCase()} key: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  describeKey(key);
  return key;
}

function importDer(der: Buffer): KeyObject {
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type });
    } catch {
      // try the next encoding
    }
  }
  throw new MeshcaError('KEY_INVALID', 'the DER bytes are not a PKCS#8, SEC1 or PKCS#1 private key', {
    hint: 'pass the key as PEM, or check the file is a private key',
  });
}

/**
 * PEM of a private key. 'PKCS1' (the default, as in cert-manager) means PKCS#1 for RSA and SEC1
 * for EC; Ed25519 has no such form and is always PKCS#8.
 */
export function encodePrivateKey(key: KeyObject, encoding: 'PKCS1' | 'PKCS8' = 'PKCS1'): string {
  if (key.type !== 'private')
    throw new MeshcaError('KEY_INVALID', `expected a private key, got a ${key.type} key`);
  const spec = describeKey(key);
  if (encoding === 'PKCS8' || spec.algorithm === 'Ed25519') {
    return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  }
  return key.export({ type: spec.algorithm === 'RSA' ? 'pkcs1' : 'sec1', format: 'pem' }) as string;
}
