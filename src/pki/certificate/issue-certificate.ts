import { hash, randomBytes as cryptoRandomBytes, type KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { DerReader } from '../der/der-reader.js';
import {
  Tag,
  bitString,
  contextConstructed,
  contextPrimitive,
  integer,
  octetString,
  sequence,
  time,
  tlv,
} from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import {
  encodeBasicConstraints,
  encodeExtKeyUsage,
  encodeKeyUsage,
  encodeNameConstraints,
  extension,
  type ExtKeyUsage,
  type KeyUsage,
  type NameConstraints,
} from '../extensions/extensions.js';
import { nameConstraintViolation, unsupportedNameConstraints } from '../extensions/name-constraints.js';
import { PublicKeyInfo, publicKeysEqual, subjectPublicKeyInfo } from '../keys/key-spec.js';
import { encodeName, isEmptyName, type DistinguishedName } from '../names/distinguished-name.js';
import { encodeGeneralNames, hasNoSans, type SubjectAltNames } from '../names/subject-alt-names.js';
import { signWith, signatureAlgorithmFor } from '../signature/signature-algorithm.js';
import { issuedCertificate, type Certificate } from './certificate.js';

/** What the issued certificate should say; the signer and options decide the rest. */
export interface CertificateTemplate {
  /** The subject's public key (a private key is accepted and its public half used). */
  publicKey: KeyObject | PublicKeyInfo;
  subject?: DistinguishedName;
  sans?: Partial<SubjectAltNames>;
  isCA?: boolean;
  /**
   * Only with isCA. Under a CA signer it may be at most what the signer and its ancestors leave
   * (RFC 5280 §4.2.1.9): INVALID_INPUT when larger; when omitted, that largest allowed value is set.
   */
  pathLen?: number;
  /** Default: CA → keyCertSign, cRLSign, digitalSignature; leaf → digitalSignature, keyEncipherment. */
  keyUsages?: KeyUsage[];
  /** Default: none (any use). */
  extKeyUsages?: ExtKeyUsage[];
  /** Only with isCA. */
  nameConstraints?: NameConstraints;
  /** Requested lifetime; clamped to the signer's notAfter. */
  lifetimeMs: number;
}

/**
 * Who signs: a CA certificate with its key, or the subject's own key (a self-signed root).
 * `ancestors` are the CAs above the signing certificate, nearest first, up to and including the
 * root when known: their pathLen, as the signer's own, limits the CA certificates it may issue.
 */
export type Signer =
  | { certificate: Certificate; key: KeyObject; ancestors?: readonly Certificate[] }
  | { selfSigned: KeyObject };

/** Time, randomness and algorithm for one issuance; nothing here reads a clock of its own. */
export interface SigningOptions {
  now: Date;
  /** notBefore is set this far before `now` to tolerate clock skew (default 0). */
  backdateMs?: number;
  /** Source of serial-number randomness (default crypto.randomBytes). */
  randomBytes?: (n: number) => Buffer;
  /** cert-manager's name (ECDSAWithSHA256, SHA256WithRSA, PureEd25519 …); default from the signer's key. */
  signatureAlgorithm?: string;
}

/** Octets of random serial: 16 with two fixed bits gives 126 bits of entropy, ≥ 64 as CA/B and RFC 5280 want. */
const SERIAL_OCTETS = 16;

// One 4 KiB draw from the CSPRNG serves 256 serials: a 16-byte randomBytes call costs about as
// much as the 4 KiB one, and was 7% of issuance time in a profile.
let pool = Buffer.alloc(0);
let poolAt = 0;
function pooledRandomBytes(n: number): Buffer {
  if (poolAt + n > pool.length) {
    pool = cryptoRandomBytes(Math.max(4096, n));
    poolAt = 0;
  }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n); // used bytes are not kept around
  poolAt += n;
  return out;
}

const verifiedPairs = new WeakMap<Certificate, WeakSet<KeyObject>>();

/** SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2, method 1). */
export function keyIdentifier(spki: Buffer): Buffer {
  const r = new DerReader(spki, 'subjectPublicKeyInfo');
  const seq = r.expect(Tag.SEQUENCE, '');
  const inner = DerReader.within(spki, seq, 'subjectPublicKeyInfo');
  inner.expect(Tag.SEQUENCE, 'algorithm');
  const { bytes } = inner.readBitString('subjectPublicKey');
  return hash('sha1', bytes, 'buffer');
}

/** A random positive serial number of SERIAL_OCTETS octets whose top octet keeps the DER INTEGER minimal and positive. */
export function randomSerial(randomBytes: (n: number) => Buffer): Buffer {
  const serial = Buffer.from(randomBytes(SERIAL_OCTETS));
  if (serial.length !== SERIAL_OCTETS)
    throw new MeshcaError('INTERNAL', `randomBytes returned ${serial.length} bytes, not ${SERIAL_OCTETS}`);
  // RFC 5280 §4.1.2.2: positive, at most 20 octets. Clearing the top bit keeps it positive; setting
  // the next keeps the first octet non-zero, so the encoding is always 16 octets and minimal.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

const floorToSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

function invalidInput(message: string, hint?: string): MeshcaError {
  return new MeshcaError('INVALID_INPUT', message, hint === undefined ? {} : { hint });
}

/**
 * Issues a certificate. notBefore is `now − backdateMs` (never before the signer's notBefore);
 * notAfter is `now + lifetimeMs`, clamped to the signer's notAfter; VALIDITY_INVALID when nothing
 * fits. The signer must be a CA whose key matches its certificate (KEY_MISMATCH, CERT_INVALID).
 */
export function issueCertificate(
  template: CertificateTemplate,
  signer: Signer,
  options: SigningOptions,
): Certificate {
  const now = options.now.getTime();
  if (!Number.isFinite(now)) throw invalidInput('signing time "now" is not a valid date');
  const { lifetimeMs } = template;
  if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
    throw new MeshcaError(
      'VALIDITY_INVALID',
      `the lifetime must be a positive number of milliseconds, got ${lifetimeMs}`,
      { hint: 'ask for a duration such as 1h' },
    );
  }
  const backdateMs = options.backdateMs ?? 0;
  if (!Number.isFinite(backdateMs) || backdateMs < 0)
    throw invalidInput(`backdateMs must be zero or positive, got ${backdateMs}`);
  const isCA = template.isCA ?? false;
  const subject = template.subject ?? {};
  const sans = template.sans ?? {};
  const subjectKey =
    template.publicKey instanceof PublicKeyInfo ? template.publicKey : PublicKeyInfo.of(template.publicKey);
  const spki = subjectKey.der;
  const ski = keyIdentifier(spki);
  const subjectDer = encodeName(subject);

  let signingKey: KeyObject;
  let issuerDer: Buffer;
  let authorityKeyId: Buffer;
  let earliest = -Infinity;
  let latest = Infinity;
  let caPathLimit: PathLenLimit | undefined;
  if ('selfSigned' in signer) {
    signingKey = signer.selfSigned;
    if (signingKey.type !== 'private')
      throw new MeshcaError('KEY_INVALID', 'a self-signed certificate must be signed with a private key');
    if (!subjectPublicKeyInfo(signingKey).equals(spki)) {
      throw new MeshcaError(
        'KEY_MISMATCH',
        'a self-signed certificate must be signed by its own key, but the template names another public key',
      );
    }
    issuerDer = subjectDer;
    authorityKeyId = ski;
  } else {
    const ca = signer.certificate;
    signingKey = signer.key;
    if (isCA) caPathLimit = pathLenLimit(ca, signer.ancestors ?? []);
    checkSigner(ca, signingKey, caPathLimit);
    if (now < ca.notBefore.getTime()) {
      throw new MeshcaError(
        'VALIDITY_INVALID',
        `the signing CA "${ca.subjectString}" is not valid until ${ca.notBefore.toISOString()}`,
        { hint: 'check the clock, or wait until the CA is valid' },
      );
    }
    if (now >= ca.notAfter.getTime()) {
      throw new MeshcaError(
        'VALIDITY_INVALID',
        `the signing CA "${ca.subjectString}" expired at ${ca.notAfter.toISOString()}`,
        { hint: 'renew or replace the CA certificate' },
      );
    }
    issuerDer = ca.subjectDer;
    authorityKeyId =
      ca.subjectKeyId !== undefined
        ? Buffer.from(ca.subjectKeyId, 'hex')
        : keyIdentifier(subjectPublicKeyInfo(ca.publicKey));
    earliest = ca.notBefore.getTime();
    latest = ca.notAfter.getTime();
  }

  const notBefore = Math.max(floorToSecond(now - backdateMs), earliest);
  const notAfter = floorToSecond(Math.min(now + lifetimeMs, latest));
  if (notAfter <= now) {
    throw new MeshcaError(
      'VALIDITY_INVALID',
      `no lifetime fits: the certificate would end at ${new Date(notAfter).toISOString()}, not after the signing time ${new Date(now).toISOString()}`,
      {
        hint: 'ask for a lifetime of at least a second, or renew the signing CA',
      },
    );
  }

  if (isCA && isEmptyName(subject)) {
    throw invalidInput(
      'a CA certificate needs a non-empty subject (RFC 5280 §4.1.2.6)',
      'set subject.commonName',
    );
  }
  if (!isCA && isEmptyName(subject) && hasNoSans(sans)) {
    throw invalidInput(
      'the certificate names nobody: its subject and its SANs are all empty',
      'set a commonName or at least one SAN',
    );
  }
  if (
    template.pathLen !== undefined &&
    (!isCA || !Number.isSafeInteger(template.pathLen) || template.pathLen < 0)
  ) {
    throw invalidInput(`pathLen ${template.pathLen} needs isCA and a non-negative integer`);
  }
  // RFC 5280 §4.2.1.9, §6.1.4 (l)-(m): a CA may carry no larger pathLen than the CAs above it
  // leave room for; any larger one would only make the leaves under it fail verification.
  let pathLen = template.pathLen;
  if (caPathLimit !== undefined && !('selfSigned' in signer)) {
    if (pathLen === undefined) pathLen = caPathLimit.max;
    else if (pathLen > caPathLimit.max) {
      throw invalidInput(
        `pathLen ${pathLen} is too large: ${describeLimit(caPathLimit, signer.certificate)}, so a CA it issues may have pathLen ${caPathLimit.max} at most (RFC 5280 §4.2.1.9)`,
        `ask for pathLen ${caPathLimit.max} or less, or for none (meshca then sets ${caPathLimit.max})`,
      );
    }
  }
  if (template.nameConstraints !== undefined && !isCA)
    throw invalidInput('nameConstraints apply to CA certificates only', 'set isCA or remove nameConstraints');

  let keyUsages =
    template.keyUsages ??
    (isCA ? ['keyCertSign', 'cRLSign', 'digitalSignature'] : ['digitalSignature', 'keyEncipherment']);
  if (isCA && !keyUsages.includes('keyCertSign')) keyUsages = [...keyUsages, 'keyCertSign'];

  const exts: Buffer[] = [extension(OID.basicConstraints, true, encodeBasicConstraints(isCA, pathLen))];
  if (keyUsages.length > 0) exts.push(extension(OID.keyUsage, true, encodeKeyUsage(keyUsages)));
  if (template.extKeyUsages !== undefined && template.extKeyUsages.length > 0) {
    exts.push(extension(OID.extKeyUsage, false, encodeExtKeyUsage(template.extKeyUsages)));
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, octetString(ski)));
  exts.push(extension(OID.authorityKeyIdentifier, false, sequence(contextPrimitive(0, authorityKeyId))));
  // RFC 5280 §4.2.1.6: when the subject is empty the SAN extension MUST be critical.
  if (!hasNoSans(sans))
    exts.push(extension(OID.subjectAltName, isEmptyName(subject), encodeGeneralNames(sans)));
  if (template.nameConstraints !== undefined) {
    exts.push(
      extension(
        OID.nameConstraints,
        template.nameConstraints.critical ?? true,
        encodeNameConstraints(template.nameConstraints),
      ),
    );
  }

  // The names must lie within the signer's own name constraints (RFC 5280 §4.2.1.10), checked
  // with the rules chain verification uses: meshca never signs what verification would refuse.
  if (!('selfSigned' in signer) && signer.certificate.nameConstraints !== undefined) {
    const violation = nameConstraintViolation(sans, signer.certificate.nameConstraints);
    if (violation !== undefined) {
      throw invalidInput(
        `the name constraints of the signing CA "${signer.certificate.subjectString}" forbid this certificate: ${violation}`,
        "ask only for names the CA's name constraints permit, or sign with a CA whose constraints allow them",
      );
    }
  }

  const algorithm = signatureAlgorithmFor(signingKey, options.signatureAlgorithm);
  const serial = randomSerial(options.randomBytes ?? pooledRandomBytes);
  const tbs = sequence(
    contextConstructed(0, integer(2)), // v3
    tlv(Tag.INTEGER, serial),
    algorithm.identifier,
    issuerDer,
    sequence(time(new Date(notBefore)), time(new Date(notAfter))),
    subjectDer,
    spki,
    contextConstructed(3, sequence(...exts)),
  );
  let signature: Buffer;
  try {
    signature = signWith(algorithm, signingKey, tbs);
  } catch (err) {
    throw new MeshcaError('SIGNING_FAILED', `signing failed: ${(err as Error).message}`, { cause: err });
  }
  // randomSerial's top octet is 0x40–0x7f, so its hex is the parsed serial (no leading zero to strip).
  return issuedCertificate(sequence(tbs, algorithm.identifier, bitString(signature)), {
    serialNumber: serial.toString('hex'),
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
  });
}

/** The tightest pathLen constraint on a CA certificate issued by a CA: which certificate sets it, how far above the signer. */
interface PathLenLimit {
  /** The largest pathLen the new CA may have; negative when it may not be issued at all. */
  max: number;
  /** The certificate whose pathLen sets `max`: the signer or one of its ancestors. */
  by: Certificate;
  /** How many CAs `by` is above the signer (0: the signer itself). */
  depth: number;
}

/**
 * The largest pathLen a CA certificate issued by `ca` may have, or undefined when nothing above
 * limits it. A CA with pathLen p, `depth` CAs above the signer, has the signer's `depth`
 * intermediates and the new CA below it, so the new CA may have p − depth − 1 at most. Every
 * intermediate counts, self-issued ones too (RFC 5280 lets those off; Go's crypto/x509 does not).
 */
function pathLenLimit(ca: Certificate, ancestors: readonly Certificate[]): PathLenLimit | undefined {
  let limit: PathLenLimit | undefined;
  for (const [depth, c] of [ca, ...ancestors].entries()) {
    if (c.pathLen === undefined) continue;
    const max = c.pathLen - depth - 1;
    if (limit === undefined || max < limit.max) limit = { max, by: c, depth };
  }
  return limit;
}

function describeLimit(limit: PathLenLimit, ca: Certificate): string {
  const p = limit.by.pathLen ?? 0;
  return limit.depth === 0
    ? `the signing CA "${ca.subjectString}" has pathLen ${p}`
    : `"${limit.by.subjectString}", ${limit.depth} CA${limit.depth === 1 ? '' : 's'} above the signing CA "${ca.subjectString}", has pathLen ${p}`;
}

function checkSigner(ca: Certificate, key: KeyObject, caPathLimit: PathLenLimit | undefined): void {
  if (!ca.isCA) {
    throw new MeshcaError(
      'CERT_INVALID',
      `the signing certificate "${ca.subjectString}" is not a CA (BasicConstraints cA is not set)`,
      { hint: 'sign with a CA certificate' },
    );
  }
  if (ca.keyUsages !== undefined && !ca.keyUsages.includes('keyCertSign')) {
    throw new MeshcaError(
      'CERT_INVALID',
      `the signing certificate "${ca.subjectString}" may not sign certificates (its key usage lacks keyCertSign)`,
      {
        hint: 'issue the CA certificate with keyCertSign',
      },
    );
  }
  if (caPathLimit !== undefined && caPathLimit.max < 0) {
    throw new MeshcaError(
      'CERT_INVALID',
      caPathLimit.depth === 0
        ? `the signing CA "${ca.subjectString}" has pathLen ${caPathLimit.by.pathLen ?? 0} and may not issue CA certificates`
        : `the signing CA "${ca.subjectString}" may not issue CA certificates: ${describeLimit(caPathLimit, ca)}, which leaves no room for another CA below it`,
      {
        hint: 'issue the intermediate from a CA with a larger pathLen, or issue a leaf',
      },
    );
  }
  if (ca.nameConstraints !== undefined) {
    const unsupported = unsupportedNameConstraints(ca.nameConstraints);
    if (unsupported !== undefined) {
      throw new MeshcaError(
        'CERT_INVALID',
        `the signing CA "${ca.subjectString}" cannot sign: ${unsupported}`,
        { hint: 'sign with a CA whose name constraints are DNS, IP, e-mail and URI subtrees only' },
      );
    }
  }
  let checked = verifiedPairs.get(ca);
  if (checked?.has(key)) return;
  if (key.type !== 'private') throw new MeshcaError('KEY_INVALID', 'the signer key must be a private key');
  if (!publicKeysEqual(key, ca.publicKey)) {
    throw new MeshcaError(
      'KEY_MISMATCH',
      `the signing key does not belong to the CA certificate "${ca.subjectString}"`,
      {
        hint: 'check the Secret holds the key and certificate of the same CA (tls.key and tls.crt)',
      },
    );
  }
  if (checked === undefined) verifiedPairs.set(ca, (checked = new WeakSet()));
  checked.add(key);
}
