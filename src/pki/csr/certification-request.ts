import type { KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { DerReader } from '../der/der-reader.js';
import { Tag } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import {
  decodeExtensions,
  decodeKnownExtensions,
  type ExtKeyUsage,
  type KeyUsage,
} from '../extensions/extensions.js';
import { readSubjectPublicKeyInfo, type KeySpec, type PublicKeyInfo } from '../keys/key-spec.js';
import { decodeName, type DistinguishedName } from '../names/distinguished-name.js';
import { emptySans, type SubjectAltNames } from '../names/subject-alt-names.js';
import { derOf, pemEncode } from '../pem/pem.js';
import { signatureAlgorithmName } from '../signature/signature-algorithm.js';

/** A parsed PKCS#10 certificate signing request (RFC 2986), read-only. */
export interface CertificationRequest {
  readonly der: Buffer;
  readonly pem: string;
  readonly subject: DistinguishedName;
  /** The requested key as a KeyObject, imported on first use (the signing hot path never asks). */
  readonly publicKey: KeyObject;
  /** The requested key as DER, with its algorithm and, for EC keys, its point. */
  readonly publicKeyInfo: PublicKeyInfo;
  readonly keySpec: KeySpec;
  /** Requested SANs; empty lists when the CSR asks for none. */
  readonly sans: SubjectAltNames;
  /** Requested key usages; undefined when the CSR does not ask. */
  readonly keyUsages: readonly KeyUsage[] | undefined;
  readonly extKeyUsages: readonly ExtKeyUsage[] | undefined;
  /** The requested BasicConstraints cA flag; undefined when absent. */
  readonly isCA: boolean | undefined;
  /** OIDs of every requested extension, in order. */
  readonly extensionOids: readonly string[];
  /** cert-manager's name for the signature algorithm (ECDSAWithSHA256 …), or its OID. */
  readonly signatureAlgorithm: string;
  /** SAN kinds present that `sans` cannot hold (otherName, directoryName …); a CA usually refuses these. */
  readonly otherSanKinds: readonly string[];
  /** The signed part, CertificationRequestInfo, as DER. */
  readonly certificationRequestInfo: Buffer;
  readonly signatureAlgorithmOid: string;
  readonly signatureValue: Buffer;
}

/** The largest CSR accepted: a P-256 CSR is about 500 bytes; 64 KiB leaves room for RSA and many SANs. */
export const MAX_CSR_BYTES = 64 * 1024;

/**
 * Parses a PKCS#10 CSR (PEM or DER). Throws PEM_INVALID / DER_INVALID saying where decoding
 * stopped, CSR_INVALID for a structure that decodes but is not a valid request, INPUT_TOO_LARGE
 * past MAX_CSR_BYTES. The signature is not checked here: call verifyCsr.
 */
export function parseCsr(input: string | Buffer): CertificationRequest {
  if (input.length > MAX_CSR_BYTES * 2) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `the CSR is ${input.length} bytes; the limit is ${MAX_CSR_BYTES} bytes of DER`,
      { hint: 'send one CSR with a reasonable number of names' },
    );
  }
  const der = derOf(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  if (der.length > MAX_CSR_BYTES) {
    throw new MeshcaError(
      'INPUT_TOO_LARGE',
      `the CSR is ${der.length} bytes of DER; the limit is ${MAX_CSR_BYTES}`,
      { hint: 'send one CSR with a reasonable number of names' },
    );
  }
  const top = new DerReader(der, 'certificationRequest');
  const outer = top.expect(Tag.SEQUENCE, '');
  top.finish();
  const r = DerReader.within(der, outer, 'certificationRequest');
  const criNode = r.expect(Tag.SEQUENCE, 'certificationRequestInfo');
  const algNode = r.expect(Tag.SEQUENCE, 'signatureAlgorithm');
  const signature = r.readBitString('signature');
  r.finish();
  if (signature.unusedBits !== 0)
    throw new MeshcaError(
      'CSR_INVALID',
      'the CSR signature BIT STRING has unused bits; it must be whole octets',
    );
  const ar = DerReader.within(der, algNode, 'certificationRequest.signatureAlgorithm');
  const signatureAlgorithmOid = ar.readOid('algorithm');

  const cri = DerReader.within(der, criNode, 'certificationRequestInfo');
  const version = cri.readSmallInteger('version');
  if (version !== 0)
    throw new MeshcaError(
      'CSR_INVALID',
      `the CSR version is ${version}; PKCS#10 defines only version 0 (v1)`,
    );
  const subject = decodeName(cri, 'subject');
  const spkiNode = cri.expect(Tag.SEQUENCE, 'subjectPKInfo');
  const attributes = cri.expect(0xa0, 'attributes');
  cri.finish();

  const publicKeyInfo = readSubjectPublicKeyInfo(cri.raw(spkiNode), 'CSR');

  let extensionOids: string[] = [];
  let decoded = decodeKnownExtensions(new Map(), 'extensions');
  const atr = DerReader.within(der, attributes, 'certificationRequestInfo.attributes');
  let sawExtensionRequest = false;
  for (let i = 0; !atr.atEnd(); i++) {
    const attr = atr.expect(Tag.SEQUENCE, `[${i}]`);
    const ar2 = DerReader.within(der, attr, `${atr.path}[${i}]`);
    const type = ar2.readOid('type');
    const values = ar2.expect(Tag.SET, 'values');
    ar2.finish();
    if (type !== OID.extensionRequest) continue; // e.g. challengePassword: not used, not refused
    if (sawExtensionRequest)
      throw new MeshcaError(
        'CSR_INVALID',
        'the CSR carries two extensionRequest attributes; it may carry one',
      );
    sawExtensionRequest = true;
    const vr = DerReader.within(der, values, `${ar2.path}.values`);
    const extsNode = vr.expect(Tag.SEQUENCE, '[0]');
    vr.finish();
    const exts = decodeExtensions(vr, extsNode, 'extensionRequest');
    extensionOids = [...exts.keys()];
    decoded = decodeKnownExtensions(exts, 'extensionRequest');
  }

  let pem: string | undefined;
  return {
    der,
    get pem(): string {
      return (pem ??= pemEncode('CERTIFICATE REQUEST', der));
    },
    subject: subject.dn,
    get publicKey(): KeyObject {
      return publicKeyInfo.keyObject;
    },
    publicKeyInfo,
    keySpec: publicKeyInfo.spec,
    sans: decoded.sans ?? emptySans(),
    keyUsages: decoded.keyUsages,
    extKeyUsages: decoded.extKeyUsages,
    isCA: decoded.isCA,
    extensionOids,
    signatureAlgorithm: signatureAlgorithmName(signatureAlgorithmOid),
    otherSanKinds: decoded.otherSanKinds,
    certificationRequestInfo: cri.raw(criNode),
    signatureAlgorithmOid,
    signatureValue: signature.bytes,
  };
}
