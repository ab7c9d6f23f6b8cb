import { MeshcaError } from '../../errors/index.js';
import { DerReader, tagName, truncateForMessage } from '../der/der-reader.js';
import {
  Tag,
  bitString,
  boolean,
  contextPrimitive,
  integer,
  isIa5,
  octetString,
  oid,
  sequence,
  contextConstructed,
} from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { bytesToCidr, cidrToBytes } from '../names/ip-address.js';
import { GeneralNameTag, decodeGeneralNames, type SubjectAltNames } from '../names/subject-alt-names.js';

/** KeyUsage bits by their RFC 5280 §4.2.1.3 names, in bit order. */
export const KEY_USAGES = [
  'digitalSignature',
  'contentCommitment',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;

/** A key usage (RFC 5280 §4.2.1.3). */
export type KeyUsage = (typeof KEY_USAGES)[number];

/** An extended key usage by name, or any other as a dotted OID (RFC 5280 §4.2.1.12). */
export type ExtKeyUsage =
  | 'serverAuth'
  | 'clientAuth'
  | 'codeSigning'
  | 'emailProtection'
  | 'timeStamping'
  | 'OCSPSigning'
  | (string & {});

const EKU_NAMES = [
  'serverAuth',
  'clientAuth',
  'codeSigning',
  'emailProtection',
  'timeStamping',
  'OCSPSigning',
] as const;
const EKU_OID_BY_NAME = new Map<string, string>(EKU_NAMES.map((n) => [n, OID[n]]));
const EKU_NAME_BY_OID = new Map<string, string>(EKU_NAMES.map((n) => [OID[n], n]));

/** Name constraints for an intermediate (RFC 5280 §4.2.1.10), cert-manager's shape flattened. */
export interface NameConstraints {
  permittedDnsDomains?: string[];
  excludedDnsDomains?: string[];
  /** CIDR ranges, e.g. "10.0.0.0/8". */
  permittedIpRanges?: string[];
  excludedIpRanges?: string[];
  permittedEmailAddresses?: string[];
  excludedEmailAddresses?: string[];
  permittedUriDomains?: string[];
  excludedUriDomains?: string[];
  /** RFC 5280 says conforming CAs MUST mark the extension critical, so meshca does unless told false. */
  critical?: boolean;
  /**
   * Read from a certificate only: subtrees meshca cannot enforce, as "permitted directoryName",
   * "excluded otherName", "permitted dNSName with minimum/maximum" … Verification refuses a chain
   * through such a CA and issuance refuses to sign under it (see name-constraints.ts); absent
   * when there are none. Never written.
   */
  unsupportedSubtrees?: string[];
}

/** One encoded Extension (RFC 5280 §4.1: extnID, critical DEFAULT FALSE, extnValue). */
export function extension(extnId: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(extnId), boolean(true), octetString(value))
    : sequence(oid(extnId), octetString(value));
}

/** KeyUsage BIT STRING value; trailing zero bits dropped as DER's named-bit rule requires (X.690 §11.2.2). */
export function encodeKeyUsage(usages: readonly KeyUsage[]): Buffer {
  let bits = 0;
  for (const u of usages) {
    const i = KEY_USAGES.indexOf(u);
    if (i < 0)
      throw new MeshcaError('INVALID_INPUT', `"${String(u)}" is not a key usage`, {
        hint: `use one of ${KEY_USAGES.join(', ')}`,
      });
    bits |= 1 << i;
  }
  if (bits === 0) return Buffer.from([Tag.BIT_STRING, 1, 0]);
  const highest = 31 - Math.clz32(bits); // highest bit index set
  const bytes = highest >= 8 ? 2 : 1;
  const out = Buffer.alloc(bytes);
  for (let i = 0; i <= highest; i++)
    if (bits & (1 << i)) out[i >> 3] = (out[i >> 3] ?? 0) | (0x80 >> (i & 7));
  return bitString(out, 7 - (highest % 8));
}

/** ExtKeyUsageSyntax value: SEQUENCE OF KeyPurposeId. */
export function encodeExtKeyUsage(usages: readonly ExtKeyUsage[]): Buffer {
  return sequence(
    ...usages.map((u) => {
      const o = EKU_OID_BY_NAME.get(u) ?? u;
      try {
        return oid(o);
      } catch {
        throw new MeshcaError('INVALID_INPUT', `"${u}" is not an extended key usage name or a dotted OID`, {
          hint: `use one of ${EKU_NAMES.join(', ')} or an OID like 1.3.6.1.5.5.7.3.1`,
        });
      }
    }),
  );
}

/** BasicConstraints value (RFC 5280 §4.2.1.9). */
export function encodeBasicConstraints(isCA: boolean, pathLen?: number): Buffer {
  if (!isCA) return sequence();
  return pathLen === undefined ? sequence(boolean(true)) : sequence(boolean(true), integer(pathLen));
}

/** NameConstraints value (RFC 5280 §4.2.1.10): permitted [0] and excluded [1] GeneralSubtrees. */
export function encodeNameConstraints(nc: NameConstraints): Buffer {
  const subtrees = (dns?: string[], ips?: string[], emails?: string[], uris?: string[]): Buffer[] => {
    const out: Buffer[] = [];
    const ascii = (kind: string, v: string): Buffer => {
      if (v === '' || !isIa5(v) || /\s/.test(v))
        throw new MeshcaError(
          'INVALID_INPUT',
          `nameConstraints ${kind} "${v}" must be non-empty ASCII without spaces`,
        );
      return Buffer.from(v, 'latin1');
    };
    for (const d of dns ?? [])
      out.push(sequence(contextPrimitive(GeneralNameTag.dNSName, ascii('dnsDomains', d))));
    for (const c of ips ?? []) {
      const bytes = cidrToBytes(c);
      if (bytes === undefined)
        throw new MeshcaError('INVALID_INPUT', `nameConstraints ipRanges "${c}" is not a CIDR range`, {
          hint: 'write ranges like 10.0.0.0/8 or fd00::/8',
        });
      out.push(sequence(contextPrimitive(GeneralNameTag.iPAddress, bytes)));
    }
    for (const e of emails ?? [])
      out.push(sequence(contextPrimitive(GeneralNameTag.rfc822Name, ascii('emailAddresses', e))));
    for (const u of uris ?? [])
      out.push(sequence(contextPrimitive(GeneralNameTag.uniformResourceIdentifier, ascii('uriDomains', u))));
    return out;
  };
  if (nc.unsupportedSubtrees !== undefined && nc.unsupportedSubtrees.length > 0) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `nameConstraints cannot be written with subtrees meshca does not enforce (${nc.unsupportedSubtrees.slice(0, 5).join(', ')})`,
      { hint: 'use DNS, IP, e-mail and URI constraints only' },
    );
  }
  const permitted = subtrees(
    nc.permittedDnsDomains,
    nc.permittedIpRanges,
    nc.permittedEmailAddresses,
    nc.permittedUriDomains,
  );
  const excluded = subtrees(
    nc.excludedDnsDomains,
    nc.excludedIpRanges,
    nc.excludedEmailAddresses,
    nc.excludedUriDomains,
  );
  if (permitted.length === 0 && excluded.length === 0) {
    // RFC 5280 §4.2.1.10: "either the permittedSubtrees field or the excludedSubtrees MUST be present".
    throw new MeshcaError('INVALID_INPUT', 'nameConstraints lists no permitted or excluded name', {
      hint: 'add a permitted or excluded entry, or leave nameConstraints out',
    });
  }
  const parts: Buffer[] = [];
  if (permitted.length > 0) parts.push(contextConstructed(0, ...permitted));
  if (excluded.length > 0) parts.push(contextConstructed(1, ...excluded));
  return sequence(...parts);
}

/** One decoded extension. */
export interface RawExtension {
  readonly critical: boolean;
  readonly value: Buffer;
  /** Offset of extnValue's content in the parent buffer, for error messages. */
  readonly offset: number;
}

/** Decodes Extensions (SEQUENCE OF Extension) into a map by OID; a repeated OID is an error (RFC 5280 §4.2). */
export function decodeExtensions(
  reader: DerReader,
  node: { start: number; end: number; tag: number; headerStart: number },
  path: string,
): Map<string, RawExtension> {
  const r = DerReader.within(reader.buf, node, path);
  const out = new Map<string, RawExtension>();
  let i = 0;
  while (!r.atEnd()) {
    const ext = r.expect(Tag.SEQUENCE, `[${i}]`);
    const er = DerReader.within(reader.buf, ext, `${path}[${i}]`);
    const extnId = er.readOid('extnID');
    const critical = er.peekTag() === Tag.BOOLEAN ? er.readBoolean('critical') : false;
    const value = er.expect(Tag.OCTET_STRING, 'extnValue');
    er.finish();
    if (out.has(extnId))
      throw r.fail(`[${i}]`, `the extension ${truncateForMessage(extnId)} appears twice`, ext.headerStart);
    out.set(extnId, { critical, value: er.content(value), offset: value.start });
    i++;
  }
  return out;
}

/** Everything meshca reads from extensions, typed. */
export interface DecodedExtensions {
  keyUsages: KeyUsage[] | undefined;
  extKeyUsages: ExtKeyUsage[] | undefined;
  isCA: boolean | undefined;
  pathLen: number | undefined;
  sans: SubjectAltNames | undefined;
  otherSanKinds: string[];
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  nameConstraints: NameConstraints | undefined;
}

const sub = (ext: RawExtension, path: string): DerReader => new DerReader(ext.value, path);

/** Decodes the extensions meshca knows; unknown ones are left to the caller (see criticality). */
export function decodeKnownExtensions(exts: Map<string, RawExtension>, path: string): DecodedExtensions {
  const out: DecodedExtensions = {
    keyUsages: undefined,
    extKeyUsages: undefined,
    isCA: undefined,
    pathLen: undefined,
    sans: undefined,
    otherSanKinds: [],
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    nameConstraints: undefined,
  };
  const ku = exts.get(OID.keyUsage);
  if (ku !== undefined) {
    const r = sub(ku, `${path}.keyUsage`);
    const { bytes } = r.readBitString('');
    r.finish();
    out.keyUsages = KEY_USAGES.filter((_, i) => ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
  }
  const eku = exts.get(OID.extKeyUsage);
  if (eku !== undefined) {
    const r = sub(eku, `${path}.extKeyUsage`);
    const seq = r.expect(Tag.SEQUENCE, '');
    r.finish();
    const sr = DerReader.within(eku.value, seq, `${path}.extKeyUsage`);
    out.extKeyUsages = [];
    for (let i = 0; !sr.atEnd(); i++) {
      const o = sr.readOid(`[${i}]`);
      out.extKeyUsages.push(EKU_NAME_BY_OID.get(o) ?? o);
    }
  }
  const bc = exts.get(OID.basicConstraints);
  if (bc !== undefined) {
    const r = sub(bc, `${path}.basicConstraints`);
    const seq = r.expect(Tag.SEQUENCE, '');
    r.finish();
    const sr = DerReader.within(bc.value, seq, `${path}.basicConstraints`);
    out.isCA = sr.peekTag() === Tag.BOOLEAN ? sr.readBoolean('cA') : false;
    if (sr.peekTag() === Tag.INTEGER) out.pathLen = sr.readSmallInteger('pathLenConstraint');
    sr.finish();
  }
  const san = exts.get(OID.subjectAltName);
  if (san !== undefined) {
    const r = sub(san, `${path}.subjectAltName`);
    const decoded = decodeGeneralNames(r, '');
    r.finish();
    out.sans = decoded.sans;
    out.otherSanKinds = decoded.otherKinds;
  }
  const ski = exts.get(OID.subjectKeyIdentifier);
  if (ski !== undefined) {
    const r = sub(ski, `${path}.subjectKeyIdentifier`);
    out.subjectKeyId = r.content(r.expect(Tag.OCTET_STRING, '')).toString('hex');
    r.finish();
  }
  const aki = exts.get(OID.authorityKeyIdentifier);
  if (aki !== undefined) {
    const r = sub(aki, `${path}.authorityKeyIdentifier`);
    const seq = r.expect(Tag.SEQUENCE, '');
    r.finish();
    const sr = DerReader.within(aki.value, seq, `${path}.authorityKeyIdentifier`);
    const keyId = sr.optional(0x80, 'keyIdentifier');
    if (keyId !== undefined) out.authorityKeyId = sr.content(keyId).toString('hex');
    // authorityCertIssuer [1] and authorityCertSerialNumber [2] are read past, not used.
    while (!sr.atEnd()) sr.next('authorityCert');
  }
  const nc = exts.get(OID.nameConstraints);
  if (nc !== undefined) out.nameConstraints = decodeNameConstraints(nc, `${path}.nameConstraints`);
  return out;
}

/** GeneralName kinds by choice number, for naming subtrees meshca does not enforce. */
const SUBTREE_KINDS: Record<number, string> = {
  0: 'otherName',
  1: 'rfc822Name',
  2: 'dNSName',
  3: 'x400Address',
  4: 'directoryName',
  5: 'ediPartyName',
  6: 'uniformResourceIdentifier',
  7: 'iPAddress',
  8: 'registeredID',
};

function decodeNameConstraints(ext: RawExtension, path: string): NameConstraints {
  const r = sub(ext, path);
  const seq = r.expect(Tag.SEQUENCE, '');
  r.finish();
  const sr = DerReader.within(ext.value, seq, path);
  const nc: NameConstraints = { critical: ext.critical };
  const readSubtrees = (tag: number, kind: 'permitted' | 'excluded'): void => {
    const node = sr.optional(tag, `${kind}Subtrees`);
    if (node === undefined) return;
    const tr = DerReader.within(ext.value, node, `${path}.${kind}Subtrees`);
    for (let i = 0; !tr.atEnd(); i++) {
      const subtree = tr.expect(Tag.SEQUENCE, `[${i}]`);
      const str = DerReader.within(ext.value, subtree, `${tr.path}[${i}]`);
      const base = str.next('base');
      const bytes = str.content(base);
      const push = (key: keyof Omit<NameConstraints, 'critical'>, v: string): void => {
        (nc[key] ??= []).push(v);
      };
      const kindName =
        (base.tag & 0xc0) === 0x80
          ? (SUBTREE_KINDS[base.tag & 0x1f] ?? `[${base.tag & 0x1f}]`)
          : tagName(base.tag);
      // minimum and maximum (RFC 5280: MUST be 0 and absent); a subtree carrying either is a
      // range meshca does not implement, so the whole subtree is unsupported (as OpenSSL refuses it).
      let minMax = false;
      while (!str.atEnd()) {
        str.next('minimum/maximum');
        minMax = true;
      }
      if (minMax) push('unsupportedSubtrees', `${kind} ${kindName} with minimum/maximum`);
      else if (base.tag === (0x80 | GeneralNameTag.dNSName))
        push(`${kind}DnsDomains`, bytes.toString('latin1'));
      else if (base.tag === (0x80 | GeneralNameTag.rfc822Name))
        push(`${kind}EmailAddresses`, bytes.toString('latin1'));
      else if (base.tag === (0x80 | GeneralNameTag.uniformResourceIdentifier))
        push(`${kind}UriDomains`, bytes.toString('latin1'));
      else if (base.tag === (0x80 | GeneralNameTag.iPAddress)) {
        const cidr = bytesToCidr(bytes);
        if (cidr === undefined)
          throw str.fail(
            'base',
            'an iPAddress constraint must be an address and a contiguous mask (8 or 32 octets)',
            base.start,
          );
        push(`${kind}IpRanges`, cidr);
      } else {
        // directoryName, otherName, registeredID, x400Address, ediPartyName: never dropped
        // silently, whatever the criticality (RFC 5280 §4.2.1.10).
        push('unsupportedSubtrees', `${kind} ${kindName}`);
      }
    }
  };
  readSubtrees(0xa0, 'permitted');
  readSubtrees(0xa1, 'excluded');
  sr.finish();
  return nc;
}

/** The extension OIDs meshca understands, so it can refuse unknown critical ones (RFC 5280 §4.2). */
export const KNOWN_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.keyUsage,
  OID.extKeyUsage,
  OID.basicConstraints,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.nameConstraints,
]);
