import { hash, type KeyObject } from 'node:crypto';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import { DerReader, truncateForMessage } from '../der/der-reader.js';
import { Tag } from '../der/der-writer.js';
import {
  KNOWN_EXTENSIONS,
  decodeExtensions,
  decodeKnownExtensions,
  type DecodedExtensions,
  type ExtKeyUsage,
  type KeyUsage,
  type NameConstraints,
} from '../extensions/extensions.js';
import { describeKey, importSubjectPublicKeyInfo, type KeySpec } from '../keys/key-spec.js';
import { decodeName, type DistinguishedName } from '../names/distinguished-name.js';
import { emptySans, type SubjectAltNames } from '../names/subject-alt-names.js';
import { derOf, pemDecodeAll, pemEncode } from '../pem/pem.js';
import { signatureAlgorithmName, verifySignature } from '../signature/signature-algorithm.js';

/** A parsed X.509 certificate (RFC 5280), read-only. */
export interface Certificate {
  readonly der: Buffer;
  readonly pem: string;
  /** Lowercase hex, without the sign octet DER may add. */
  readonly serialNumber: string;
  readonly subject: DistinguishedName;
  /** Every subject attribute for display, most specific first ("CN=…, O=…"). */
  readonly subjectString: string;
  /** The issuer's Name (the typed fields meshca knows). */
  readonly issuer: DistinguishedName;
  readonly issuerString: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCA: boolean;
  readonly pathLen: number | undefined;
  readonly keyUsages: readonly KeyUsage[] | undefined;
  readonly extKeyUsages: readonly ExtKeyUsage[] | undefined;
  readonly sans: SubjectAltNames;
  /** Lowercase hex. */
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly publicKey: KeyObject;
  readonly keySpec: KeySpec;
  /** SHA-256 of the DER, lowercase hex without colons. */
  readonly fingerprintSha256: string;
  /** cert-manager's name for the signature algorithm (ECDSAWithSHA256 …), or its OID. */
  readonly signatureAlgorithm: string;
  /** Issuer equals subject and the certificate's signature verifies with its own key. */
  readonly selfSigned: boolean;
  // The raw parts below serve chain building and verification.
  /** The signed part, TBSCertificate, as DER. */
  readonly tbsCertificate: Buffer;
  readonly signatureAlgorithmOid: string;
  readonly signatureValue: Buffer;
  /** The subject Name as DER (compared byte for byte when chaining). */
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  /** Critical extensions meshca does not understand; a verifier must refuse the certificate (RFC 5280 §4.2). */
  readonly unknownCriticalExtensions: readonly string[];
  /** SAN kinds present that `sans` cannot hold (otherName, directoryName …). */
  readonly otherSanKinds: readonly string[];
}

/** The largest single certificate accepted. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** Every field read from the DER; computed once per certificate. */
interface Fields {
  serialNumber: string;
  subject: DistinguishedName;
  subjectString: string;
  issuer: DistinguishedName;
  issuerString: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  pathLen: number | undefined;
  keyUsages: readonly KeyUsage[] | undefined;
  extKeyUsages: readonly ExtKeyUsage[] | undefined;
  sans: SubjectAltNames;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  nameConstraints: NameConstraints | undefined;
  signatureAlgorithm: string;
  tbsCertificate: Buffer;
  signatureAlgorithmOid: string;
  signatureValue: Buffer;
  subjectDer: Buffer;
  issuerDer: Buffer;
  unknownCriticalExtensions: readonly string[];
  otherSanKinds: readonly string[];
  spkiDer: Buffer;
}

function parseFields(der: Buffer): Fields {
  const f = {} as Fields;
  const top = new DerReader(der, 'certificate');
  const outer = top.expect(Tag.SEQUENCE, '');
  top.finish();
  const r = DerReader.within(der, outer, 'certificate');
  const tbsNode = r.expect(Tag.SEQUENCE, 'tbsCertificate');
  const algNode = r.expect(Tag.SEQUENCE, 'signatureAlgorithm');
  const signature = r.readBitString('signatureValue');
  r.finish();
  if (signature.unusedBits !== 0)
    throw invalid('the signature BIT STRING has unused bits; it must be whole octets');
  f.signatureAlgorithmOid = DerReader.within(der, algNode, 'certificate.signatureAlgorithm').readOid(
    'algorithm',
  );
  f.signatureAlgorithm = signatureAlgorithmName(f.signatureAlgorithmOid);
  f.signatureValue = signature.bytes;
  f.tbsCertificate = r.raw(tbsNode);

  const t = DerReader.within(der, tbsNode, 'tbsCertificate');
  let version = 0;
  const versionNode = t.optional(0xa0, 'version');
  if (versionNode !== undefined) {
    const vr = DerReader.within(der, versionNode, 'tbsCertificate.version');
    version = vr.readSmallInteger('');
    vr.finish();
    if (version > 2) throw invalid(`the certificate version is v${version + 1}; X.509 defines v1 to v3`);
  }
  const serialNode = t.expect(Tag.INTEGER, 'serialNumber');
  const serial = t.content(serialNode);
  if (serial.length === 0 || serial.length > 21)
    throw invalid(`the serial number is ${serial.length} octets; RFC 5280 §4.1.2.2 allows 1 to 20`);
  f.serialNumber = (serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial).toString('hex');
  const innerAlg = DerReader.within(
    der,
    t.expect(Tag.SEQUENCE, 'signature'),
    'tbsCertificate.signature',
  ).readOid('algorithm');
  if (innerAlg !== f.signatureAlgorithmOid) {
    // RFC 5280 §4.1.1.2: the two algorithm fields MUST be the same.
    throw invalid(
      `the signature algorithm inside the certificate (${truncateForMessage(innerAlg)}) differs from the one outside (${truncateForMessage(f.signatureAlgorithmOid)})`,
    );
  }
  const issuer = decodeNameWithRaw(t, 'issuer');
  f.issuer = issuer.dn;
  f.issuerString = issuer.text;
  f.issuerDer = issuer.raw;
  const validity = t.expect(Tag.SEQUENCE, 'validity');
  const vr = DerReader.within(der, validity, 'tbsCertificate.validity');
  f.notBefore = vr.readTime('notBefore');
  f.notAfter = vr.readTime('notAfter');
  vr.finish();
  const subject = decodeNameWithRaw(t, 'subject');
  f.subject = subject.dn;
  f.subjectString = subject.text;
  f.subjectDer = subject.raw;
  f.spkiDer = t.raw(t.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo'));
  t.optional(0x81, 'issuerUniqueID');
  t.optional(0x82, 'subjectUniqueID');
  const extsWrapper = t.optional(0xa3, 'extensions');
  t.finish();
  let decoded: DecodedExtensions = decodeKnownExtensions(new Map(), 'extensions');
  const unknownCritical: string[] = [];
  if (extsWrapper !== undefined) {
    if (version !== 2) throw invalid('the certificate has extensions but is not version 3');
    const wr = DerReader.within(der, extsWrapper, 'tbsCertificate.extensions');
    const seq = wr.expect(Tag.SEQUENCE, '');
    wr.finish();
    const exts = decodeExtensions(wr, seq, 'extensions');
    decoded = decodeKnownExtensions(exts, 'extensions');
    for (const [o, e] of exts) if (e.critical && !KNOWN_EXTENSIONS.has(o)) unknownCritical.push(o);
  }
  f.isCA = decoded.isCA ?? false;
  f.pathLen = decoded.pathLen;
  f.keyUsages = decoded.keyUsages;
  f.extKeyUsages = decoded.extKeyUsages;
  f.sans = decoded.sans ?? emptySans();
  f.otherSanKinds = decoded.otherSanKinds;
  f.subjectKeyId = decoded.subjectKeyId;
  f.authorityKeyId = decoded.authorityKeyId;
  f.nameConstraints = decoded.nameConstraints;
  f.unknownCriticalExtensions = unknownCritical;
  return f;
}

/**
 * A certificate view. Input from outside is parsed in full at once (so a bad certificate fails
 * at the boundary); a certificate meshca has just issued is parsed on first use, since the CSR
 * hot path usually needs only its PEM. The public key, PEM and fingerprint are always lazy.
 */
class ParsedCertificate implements Certificate {
  private fields: Fields | undefined;
  private lazyKey: KeyObject | undefined;
  private lazyPem: string | undefined;
  private lazyFingerprint: string | undefined;
  private lazySelfSigned: boolean | undefined;

  constructor(
    readonly der: Buffer,
    eager: boolean,
    private readonly known?: KnownIssuedFields,
  ) {
    if (eager) this.fields = parseFields(der);
  }

  private get f(): Fields {
    return (this.fields ??= parseFields(this.der));
  }

  get serialNumber(): string {
    return this.known?.serialNumber ?? this.f.serialNumber;
  }

  get subject(): DistinguishedName {
    return this.f.subject;
  }

  get subjectString(): string {
    return this.f.subjectString;
  }

  get issuer(): DistinguishedName {
    return this.f.issuer;
  }

  get issuerString(): string {
    return this.f.issuerString;
  }

  get notBefore(): Date {
    return this.known?.notBefore ?? this.f.notBefore;
  }

  get notAfter(): Date {
    return this.known?.notAfter ?? this.f.notAfter;
  }

  get isCA(): boolean {
    return this.f.isCA;
  }

  get pathLen(): number | undefined {
    return this.f.pathLen;
  }

  get keyUsages(): readonly KeyUsage[] | undefined {
    return this.f.keyUsages;
  }

  get extKeyUsages(): readonly ExtKeyUsage[] | undefined {
    return this.f.extKeyUsages;
  }

  get sans(): SubjectAltNames {
    return this.f.sans;
  }

  get subjectKeyId(): string | undefined {
    return this.f.subjectKeyId;
  }

  get authorityKeyId(): string | undefined {
    return this.f.authorityKeyId;
  }

  get nameConstraints(): NameConstraints | undefined {
    return this.f.nameConstraints;
  }

  get signatureAlgorithm(): string {
    return this.f.signatureAlgorithm;
  }

  get tbsCertificate(): Buffer {
    return this.f.tbsCertificate;
  }

  get signatureAlgorithmOid(): string {
    return this.f.signatureAlgorithmOid;
  }

  get signatureValue(): Buffer {
    return this.f.signatureValue;
  }

  get subjectDer(): Buffer {
    return this.f.subjectDer;
  }

  get issuerDer(): Buffer {
    return this.f.issuerDer;
  }

  get unknownCriticalExtensions(): readonly string[] {
    return this.f.unknownCriticalExtensions;
  }

  get otherSanKinds(): readonly string[] {
    return this.f.otherSanKinds;
  }

  get publicKey(): KeyObject {
    return (this.lazyKey ??= importSubjectPublicKeyInfo(this.f.spkiDer, 'certificate'));
  }

  get keySpec(): KeySpec {
    return describeKey(this.publicKey);
  }

  get pem(): string {
    return (this.lazyPem ??= pemEncode('CERTIFICATE', this.der));
  }

  get fingerprintSha256(): string {
    return (this.lazyFingerprint ??= hash('sha256', this.der, 'hex'));
  }

  get selfSigned(): boolean {
    return (this.lazySelfSigned ??=
      this.subjectDer.equals(this.issuerDer) &&
      verifySignature(
        this.signatureAlgorithmOid,
        this.publicKey,
        this.tbsCertificate,
        this.signatureValue,
      ) === undefined);
  }
}

function decodeNameWithRaw(
  t: DerReader,
  field: string,
): { dn: DistinguishedName; text: string; raw: Buffer } {
  // Read the node once to learn its bounds, then decode it from a fresh reader over the same bytes.
  const node = t.expect(Tag.SEQUENCE, field);
  const decoded = decodeName(new DerReader(t.buf, t.path, node.headerStart, node.end), field);
  return { ...decoded, raw: t.raw(node) };
}

function invalid(message: string): MeshcaError {
  return new MeshcaError('CERT_INVALID', message, {
    hint: 'the certificate is malformed; obtain it again from its issuer',
  });
}

function wrap(err: unknown): MeshcaError {
  if (isMeshcaError(err, 'CERT_INVALID') || isMeshcaError(err, 'INPUT_TOO_LARGE')) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MeshcaError('CERT_INVALID', `the certificate cannot be read: ${message}`, {
    cause: err,
    hint: isMeshcaError(err) ? err.hint : undefined,
  });
}

/** Fields the issuer already knows when it builds a certificate, so reading them needs no parse. */
export interface KnownIssuedFields {
  /** Lowercase hex, no leading zero octet: as parsing the DER would give it. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * A view of a certificate meshca has just built, parsed on first use (the issuance hot path).
 * `known` answers serialNumber, notBefore and notAfter without a parse: the CSR server's audit
 * record reads just these, and a full parse per leaf cost about 5% of its CPU (bench/csr-server).
 */
export function issuedCertificate(der: Buffer, known?: KnownIssuedFields): Certificate {
  return new ParsedCertificate(der, false, known);
}

/** Parses one certificate from DER bytes (no PEM). */
export function certificateFromDer(der: Buffer): Certificate {
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `the certificate is ${der.length} bytes; the limit is ${MAX_CERTIFICATE_BYTES}`,
    );
  }
  try {
    return new ParsedCertificate(der, true);
  } catch (err) {
    throw wrap(err);
  }
}

/** Parses the first CERTIFICATE block of PEM text, or DER bytes; throws CERT_INVALID saying why. */
export function parseCertificate(input: string | Buffer): Certificate {
  let der: Buffer;
  try {
    der = derOf(input, ['CERTIFICATE']);
  } catch (err) {
    throw wrap(err);
  }
  return certificateFromDer(der);
}

/** Parses every certificate of a PEM bundle or chain, in order; blank text gives none. */
export function parseCertificates(pem: string): Certificate[] {
  if (pem.trim() === '') return [];
  let blocks;
  try {
    blocks = pemDecodeAll(pem);
  } catch (err) {
    throw wrap(err);
  }
  return blocks.map((b, i) => {
    if (b.label !== 'CERTIFICATE')
      throw invalid(`block ${i + 1} of the bundle is "${b.label}", not "CERTIFICATE"`);
    try {
      return certificateFromDer(b.der);
    } catch (err) {
      const e = wrap(err);
      throw new MeshcaError(e.code, `certificate ${i + 1} of the bundle: ${e.message}`, {
        cause: err,
        hint: e.hint,
      });
    }
  });
}
