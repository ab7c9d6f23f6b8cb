import type { KeyObject } from 'node:crypto';
import { MeshcaError } from '../../errors/index.js';
import { bitString, contextConstructed, integer, oid, sequence, setOf } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import {
  encodeBasicConstraints,
  encodeExtKeyUsage,
  encodeKeyUsage,
  extension,
  type ExtKeyUsage,
  type KeyUsage,
} from '../extensions/extensions.js';
import { subjectPublicKeyInfo } from '../keys/key-spec.js';
import { encodeName, isEmptyName, type DistinguishedName } from '../names/distinguished-name.js';
import { encodeGeneralNames, hasNoSans, type SubjectAltNames } from '../names/subject-alt-names.js';
import { pemEncode } from '../pem/pem.js';
import { signWith, signatureAlgorithmFor } from '../signature/signature-algorithm.js';

/** What to put in a CSR. */
export interface CsrOptions {
  key: KeyObject;
  subject?: DistinguishedName;
  sans?: Partial<SubjectAltNames>;
  keyUsages?: KeyUsage[];
  extKeyUsages?: ExtKeyUsage[];
  isCA?: boolean;
}

/** Builds and signs a PKCS#10 CSR (RFC 2986) with `key`; returns PEM. */
export function buildCsr(opts: CsrOptions): string {
  if (opts.key.type !== 'private')
    throw new MeshcaError('KEY_INVALID', 'a CSR must be signed with a private key');
  const subject = opts.subject ?? {};
  const sans = opts.sans ?? {};
  const exts: Buffer[] = [];
  // RFC 5280 §4.2.1.6: with an empty subject the SAN extension is critical.
  if (!hasNoSans(sans))
    exts.push(extension(OID.subjectAltName, isEmptyName(subject), encodeGeneralNames(sans)));
  if (opts.keyUsages !== undefined && opts.keyUsages.length > 0)
    exts.push(extension(OID.keyUsage, true, encodeKeyUsage(opts.keyUsages)));
  if (opts.extKeyUsages !== undefined && opts.extKeyUsages.length > 0)
    exts.push(extension(OID.extKeyUsage, false, encodeExtKeyUsage(opts.extKeyUsages)));
  if (opts.isCA !== undefined)
    exts.push(extension(OID.basicConstraints, true, encodeBasicConstraints(opts.isCA)));
  const attributes = exts.length === 0 ? [] : [sequence(oid(OID.extensionRequest), setOf(sequence(...exts)))];
  const cri = sequence(
    integer(0),
    encodeName(subject),
    subjectPublicKeyInfo(opts.key),
    contextConstructed(0, ...attributes),
  );
  const algorithm = signatureAlgorithmFor(opts.key);
  const der = sequence(cri, algorithm.identifier, bitString(signWith(algorithm, opts.key, cri)));
  return pemEncode('CERTIFICATE REQUEST', der);
}
