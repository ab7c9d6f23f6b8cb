import { createPublicKey, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { DerReader } from '../der/der-reader.js';
import { Tag } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { nativeEcdsa, type NativeCurve } from '../native/native-ecdsa.js';

/** Key algorithms meshca issues for and signs with. */
export type KeyAlgorithm = 'ECDSA' | 'RSA' | 'Ed25519';

/** An algorithm and, for ECDSA and RSA, a size: ECDSA 256|384, RSA 2048..16384 read, 2048..8192 (even) made (bits). */
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
  if (key.type === 'secret')
    throw new MeshcaError('KEY_UNSUPPORTED', 'a secret (symmetric) key is not an asymmetric key pair');
  let spec: KeySpec;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') spec = { algorithm: 'ECDSA', size: 256 };
      else if (curve === 'secp384r1') spec = { algorithm: 'ECDSA', size: 384 };
      else {
        throw new MeshcaError(
          'KEY_UNSUPPORTED',
          `the elliptic curve ${curve ?? '(explicit parameters)'} is not supported`,
          {
            hint: 'use ECDSA P-256 or P-384',
          },
        );
      }
      break;
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw new MeshcaError('KEY_UNSUPPORTED', `an RSA key of ${bits} bits is not accepted`, {
          hint: `use RSA of ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits (an even size up to 8192 to generate)`,
        });
      }
      spec = { algorithm: 'RSA', size: bits };
      break;
    }
    case 'ed25519':
      spec = { algorithm: 'Ed25519' };
      break;
    default:
      throw new MeshcaError(
        'KEY_UNSUPPORTED',
        `keys of type ${key.asymmetricKeyType ?? 'unknown'} are not supported`,
        {
          hint: 'use ECDSA P-256/P-384, RSA 2048-4096 or Ed25519',
        },
      );
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

const EC_CURVES: Record<string, { crv: NativeCurve; coordinate: number; spec: KeySpec }> = {
  [OID.secp256r1]: { crv: 'P-256', coordinate: 32, spec: { algorithm: 'ECDSA', size: 256 } },
  [OID.secp384r1]: { crv: 'P-384', coordinate: 48, spec: { algorithm: 'ECDSA', size: 384 } },
};

/**
 * Imports a DER SubjectPublicKeyInfo, remembering its bytes for subjectPublicKeyInfo().
 * EC keys go through JWK: OpenSSL 3's DER decoder costs about 150 µs per key here, the JWK path
 * about 85 µs (it still checks the point is on the curve).
 */
export function importSubjectPublicKeyInfo(der: Buffer, what: string): KeyObject {
  let ec: EcPoint | undefined;
  try {
    ec = readEcPoint(der);
  } catch (err) {
    throw keyUnreadable(what, (err as Error).message, err);
  }
  return importKey(der, what, ec);
}

/** importSubjectPublicKeyInfo for a SubjectPublicKeyInfo whose EC point has been read already. */
function importKey(der: Buffer, what: string, ec: EcPoint | undefined): KeyObject {
  let key: KeyObject;
  try {
    key =
      ec !== undefined
        ? createPublicKey({
            key: {
              kty: 'EC',
              crv: ec.curve,
              x: ec.point.toString('base64url', 1, 1 + ec.coordinate),
              y: ec.point.toString('base64url', 1 + ec.coordinate),
            },
            format: 'jwk',
          })
        : createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (ec !== undefined) specCache.set(key, ec.spec);
  } catch (err) {
    throw keyUnreadable(what, (err as Error).message, err);
  }
  spkiCache.set(key, der);
  return key;
}

const keyUnreadable = (what: string, why: string, cause?: unknown): MeshcaError =>
  new MeshcaError('KEY_INVALID', `the public key of the ${what} cannot be read: ${why}`, { cause });

/**
 * A public key as its DER SubjectPublicKeyInfo, its algorithm and size, and (for P-256 and P-384
 * keys in the uncompressed form) its point, which the native ECDSA path verifies with directly.
 * The KeyObject is made only when something asks for it: the CSR hot path never does.
 */
export class PublicKeyInfo {
  #key: KeyObject | undefined;
  readonly #what: string;

  constructor(
    readonly der: Buffer,
    readonly spec: KeySpec,
    readonly ec: { readonly curve: NativeCurve; readonly point: Buffer } | undefined,
    what: string,
    key?: KeyObject,
  ) {
    this.#what = what;
    this.#key = key;
  }

  /** The key as a node:crypto KeyObject, imported on first use. */
  get keyObject(): KeyObject {
    return (this.#key ??= importSubjectPublicKeyInfo(this.der, this.#what));
  }

  /** The info of a KeyObject (a private key's public half). */
  static of(key: KeyObject): PublicKeyInfo {
    return new PublicKeyInfo(subjectPublicKeyInfo(key), describeKey(key), undefined, 'key', key);
  }
}

/**
 * Reads a DER SubjectPublicKeyInfo (`what` names its owner in errors). An EC point is checked to
 * be on its curve here, natively when the native path is built, else by importing the key;
 * any other key is imported, which checks it. Throws KEY_INVALID or KEY_UNSUPPORTED.
 */
export function readSubjectPublicKeyInfo(der: Buffer, what: string): PublicKeyInfo {
  let ec: EcPoint | undefined;
  try {
    ec = readEcPoint(der);
  } catch (err) {
    throw keyUnreadable(what, (err as Error).message, err);
  }
  const native = ec === undefined ? undefined : nativeEcdsa();
  if (ec !== undefined && native !== undefined) {
    if (!native.pointValid(ec.curve, ec.point))
      throw keyUnreadable(what, `the point is not on the curve ${ec.curve}`);
    return new PublicKeyInfo(der, ec.spec, { curve: ec.curve, point: ec.point }, what);
  }
  const key = importKey(der, what, ec);
  const spec = describeKey(key);
  return new PublicKeyInfo(
    der,
    spec,
    ec === undefined ? undefined : { curve: ec.curve, point: ec.point },
    what,
    key,
  );
}

/** A P-256 or P-384 public key's curve, coordinate length, uncompressed point and spec. */
interface EcPoint {
  readonly curve: NativeCurve;
  readonly coordinate: number;
  readonly point: Buffer;
  readonly spec: KeySpec;
}

/**
 * The curve and uncompressed point (SEC 1 §2.3.3: 0x04 ‖ X ‖ Y) of a P-256 or P-384
 * SubjectPublicKeyInfo; undefined for any other key or form, which takes OpenSSL's DER path.
 */
function readEcPoint(der: Buffer): EcPoint | undefined {
  const r = new DerReader(der, 'subjectPublicKeyInfo');
  const outer = r.expect(Tag.SEQUENCE, '');
  r.finish();
  const inner = DerReader.within(der, outer, 'subjectPublicKeyInfo');
  const algNode = inner.expect(Tag.SEQUENCE, 'algorithm');
  const point = inner.readBitString('subjectPublicKey');
  inner.finish();
  const alg = DerReader.within(der, algNode, 'subjectPublicKeyInfo.algorithm');
  if (alg.readOid('algorithm') !== OID.ecPublicKey || alg.peekTag() !== Tag.OID) return undefined;
  const curve = EC_CURVES[alg.readOid('namedCurve')];
  alg.finish();
  const p = point.bytes;
  if (curve === undefined || point.unusedBits !== 0 || p.length !== 1 + 2 * curve.coordinate || p[0] !== 4)
    return undefined;
  return { curve: curve.crv, coordinate: curve.coordinate, point: p, spec: curve.spec };
}

/** True when both keys (private or public) have the same public half. */
export function publicKeysEqual(a: KeyObject, b: KeyObject): boolean {
  return subjectPublicKeyInfo(a).equals(subjectPublicKeyInfo(b));
}
