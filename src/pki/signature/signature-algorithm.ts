import { KeyObject, sign, verify } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { truncateForMessage } from '../der/der-reader.js';
import { NULL, oid, sequence } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { PublicKeyInfo, describeKey, type KeyAlgorithm } from '../keys/key-spec.js';
import { nativeEcdsa, type NativeEcdsa, type NativeHash, type NativeSigner } from '../native/native-ecdsa.js';

/** A signature algorithm meshca signs with, by cert-manager's names for `signatureAlgorithm`. */
export interface SignatureAlgorithm {
  /** cert-manager's name: ECDSAWithSHA256, SHA256WithRSA, PureEd25519 … */
  readonly name: string;
  readonly oid: string;
  /** The key algorithm it needs. */
  readonly keyAlgorithm: KeyAlgorithm;
  /** node:crypto digest name; null for Ed25519, which hashes internally. */
  readonly digest: string | null;
  /** Encoded AlgorithmIdentifier, precomputed. */
  readonly identifier: Buffer;
}

const alg = (
  name: string,
  o: string,
  keyAlgorithm: KeyAlgorithm,
  digest: string | null,
): SignatureAlgorithm => ({
  name,
  oid: o,
  keyAlgorithm,
  digest,
  // RFC 5758 §3.2 and RFC 8410 §3: parameters absent; RFC 4055 §5: NULL parameters for RSA PKCS#1 v1.5.
  identifier: keyAlgorithm === 'RSA' ? sequence(oid(o), NULL) : sequence(oid(o)),
});

/** Every signature algorithm meshca signs with and accepts. */
export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [
  alg('ECDSAWithSHA256', OID.ecdsaWithSha256, 'ECDSA', 'sha256'),
  alg('ECDSAWithSHA384', OID.ecdsaWithSha384, 'ECDSA', 'sha384'),
  alg('ECDSAWithSHA512', OID.ecdsaWithSha512, 'ECDSA', 'sha512'),
  alg('SHA256WithRSA', OID.sha256WithRsa, 'RSA', 'sha256'),
  alg('SHA384WithRSA', OID.sha384WithRsa, 'RSA', 'sha384'),
  alg('SHA512WithRSA', OID.sha512WithRsa, 'RSA', 'sha512'),
  alg('PureEd25519', OID.ed25519, 'Ed25519', null),
];

const BY_OID = new Map(SIGNATURE_ALGORITHMS.map((a) => [a.oid, a]));
const BY_NAME = new Map(SIGNATURE_ALGORITHMS.map((a) => [a.name.toLowerCase(), a]));

/** The algorithm for a signature OID, or undefined for one meshca does not accept (SHA-1, PSS …). */
export function signatureAlgorithmByOid(o: string): SignatureAlgorithm | undefined {
  return BY_OID.get(o);
}

/** A readable name for a signature OID: cert-manager's name when known, else the OID. */
export function signatureAlgorithmName(o: string): string {
  return (
    BY_OID.get(o)?.name ?? (o === OID.sha1WithRsa ? 'SHA1WithRSA' : o === OID.rsassaPss ? 'RSASSA-PSS' : o)
  );
}

/**
 * The algorithm to sign with `key`: the one named (checked against the key), else the usual
 * pairing (P-256 → SHA-256, P-384 → SHA-384, RSA → SHA-256, Ed25519).
 */
export function signatureAlgorithmFor(key: KeyObject, name?: string): SignatureAlgorithm {
  const spec = describeKey(key);
  if (name !== undefined) {
    const chosen = BY_NAME.get(name.toLowerCase());
    if (chosen === undefined) {
      throw new MeshcaError('INVALID_INPUT', `signature algorithm "${name}" is not supported`, {
        hint: `use one of ${SIGNATURE_ALGORITHMS.map((a) => a.name).join(', ')}`,
      });
    }
    if (chosen.keyAlgorithm !== spec.algorithm) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `signature algorithm ${chosen.name} needs an ${chosen.keyAlgorithm} key, but the signing key is ${spec.algorithm}`,
        {
          hint: "leave signatureAlgorithm unset to use the key's usual algorithm",
        },
      );
    }
    return chosen;
  }
  const usual =
    spec.algorithm === 'ECDSA'
      ? spec.size === 384
        ? 'ecdsawithsha384'
        : 'ecdsawithsha256'
      : spec.algorithm === 'RSA'
        ? 'sha256withrsa'
        : 'pureed25519';
  return BY_NAME.get(usual) as SignatureAlgorithm;
}

/**
 * The native signer of each ECDSA private key: 'once' after its first signature, then the signer
 * (null: this key cannot take the native path). Loading a key natively costs about what one
 * node:crypto signature does, so a key that signs once (a Certificate's own key signing its CSR)
 * stays on node:crypto; a CA key that signs again is loaded natively on its second signature.
 */
const nativeSigners = new WeakMap<KeyObject, NativeSigner | null | 'once'>();

function nativeSignerFor(native: NativeEcdsa, key: KeyObject): NativeSigner | null {
  let signer = nativeSigners.get(key);
  if (signer === undefined) {
    nativeSigners.set(key, 'once');
    return null;
  }
  if (signer !== 'once') return signer;
  signer = null;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (
    key.type === 'private' &&
    key.asymmetricKeyType === 'ec' &&
    (curve === 'prime256v1' || curve === 'secp384r1')
  ) {
    const jwk = key.export({ format: 'jwk' });
    const d = Buffer.from(jwk.d ?? '', 'base64url');
    try {
      const point = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x ?? '', 'base64url'),
        Buffer.from(jwk.y ?? '', 'base64url'),
      ]);
      signer = native.createSigner(curve === 'prime256v1' ? 'P-256' : 'P-384', d, point);
    } catch {
      signer = null; // node:crypto signs it, and says what is wrong with it if anything is
    } finally {
      d.fill(0);
    }
  }
  nativeSigners.set(key, signer);
  return signer;
}

/** Whether `key` now signs through the native path (for tests and diagnostics). */
export function signsNatively(key: KeyObject): boolean {
  const signer = nativeSigners.get(key);
  return signer !== undefined && signer !== null && signer !== 'once';
}

/** Signs `data` (DER-encoded ECDSA signatures, as X.509 carries them). */
export function signWith(algorithm: SignatureAlgorithm, key: KeyObject, data: Buffer): Buffer {
  if (algorithm.keyAlgorithm === 'ECDSA') {
    const native = nativeEcdsa();
    const signer = native === undefined ? null : nativeSignerFor(native, key);
    if (signer !== null) return native!.sign(signer, algorithm.digest as NativeHash, data);
  }
  return sign(algorithm.digest, data, key);
}

/**
 * Verifies a signature made with the algorithm of OID `o`; returns the reason when it does not
 * verify. A PublicKeyInfo with an EC point takes the native path when it is built.
 */
export function verifySignature(
  o: string,
  key: KeyObject | PublicKeyInfo,
  data: Buffer,
  signature: Buffer,
): string | undefined {
  const algorithm = BY_OID.get(o);
  if (algorithm === undefined)
    return `the signature algorithm ${truncateForMessage(signatureAlgorithmName(o))} is not accepted`;
  let keyAlgorithm: KeyAlgorithm;
  try {
    keyAlgorithm = key instanceof PublicKeyInfo ? key.spec.algorithm : describeKey(key).algorithm;
  } catch (err) {
    return (err as Error).message;
  }
  if (keyAlgorithm !== algorithm.keyAlgorithm) {
    return `the signature algorithm ${algorithm.name} does not match the ${keyAlgorithm} key`;
  }
  if (key instanceof PublicKeyInfo && key.ec !== undefined) {
    const native = nativeEcdsa();
    if (native !== undefined) {
      switch (native.verify(key.ec.curve, key.ec.point, algorithm.digest as NativeHash, data, signature)) {
        case 'valid':
          return undefined;
        case 'invalid':
          return 'the signature does not verify with the public key';
        case 'bad-point':
          return `the public key is not a point on the curve ${key.ec.curve}`;
        case 'bad-signature':
          return 'the signature is malformed: it is not a DER ECDSA-Sig-Value';
      }
    }
  }
  try {
    const keyObject = key instanceof KeyObject ? key : key.keyObject;
    return verify(algorithm.digest, data, keyObject, signature)
      ? undefined
      : 'the signature does not verify with the public key';
  } catch (err) {
    return `the signature is malformed: ${(err as Error).message}`;
  }
}
