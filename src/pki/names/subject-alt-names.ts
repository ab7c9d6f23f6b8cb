import { MeshcaError } from '../../errors/index.js';
import { DerReader, type DerNode } from '../der/der-reader.js';
import { Tag, contextConstructed, contextPrimitive, isIa5, oid, sequence, tlv } from '../der/der-writer.js';
import { OID_PATTERN } from './other-name.js';
import type { OtherName } from './other-name.js';
import { bytesToIp, ipToBytes } from './ip-address.js';

/** Subject alternative names by kind (RFC 5280 §4.2.1.6), with cert-manager's field names. */
export interface SubjectAltNames {
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  emailAddresses: string[];
  /** otherName entries with a UTF8String value, as cert-manager's spec.otherNames; absent when none. */
  otherNames?: OtherName[];
}

/** GeneralName choice tags (RFC 5280 §4.2.1.6). */
export const GeneralNameTag = {
  rfc822Name: 1,
  dNSName: 2,
  uniformResourceIdentifier: 6,
  iPAddress: 7,
} as const;

const OTHER_KINDS: Record<number, string> = {
  3: 'x400Address',
  4: 'directoryName',
  5: 'ediPartyName',
  8: 'registeredID',
};

/** SANs with every list present. */
export function emptySans(): SubjectAltNames {
  return { dnsNames: [], ipAddresses: [], uris: [], emailAddresses: [] };
}

/** True when there is no SAN at all. */
export function hasNoSans(s: Partial<SubjectAltNames>): boolean {
  return (
    !s.dnsNames?.length &&
    !s.ipAddresses?.length &&
    !s.uris?.length &&
    !s.emailAddresses?.length &&
    !s.otherNames?.length
  );
}

const DNS_NAME =
  /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/;
const EMAIL = /^[\x21-\x3f\x41-\x7e]+@[A-Za-z0-9_.-]+$/;

function ia5(kind: string, value: string, index: number, valid: RegExp): Buffer {
  if (value.length === 0 || !isIa5(value) || !valid.test(value) || value.length > 2048) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `${kind}[${index}] "${value.slice(0, 80)}" is not a valid ${kind === 'uris' ? 'URI' : kind === 'dnsNames' ? 'DNS name' : 'e-mail address'}`,
      {
        hint:
          kind === 'dnsNames'
            ? 'use ASCII labels (punycode for IDNs), optionally a leading "*."'
            : 'use ASCII only, with no spaces',
      },
    );
  }
  return Buffer.from(value, 'latin1');
}

/** GeneralNames SEQUENCE for the SANs (the extension value of subjectAltName); validates each name. */
export function encodeGeneralNames(s: Partial<SubjectAltNames>): Buffer {
  const names: Buffer[] = [];
  (s.emailAddresses ?? []).forEach((v, i) =>
    names.push(contextPrimitive(GeneralNameTag.rfc822Name, ia5('emailAddresses', v, i, EMAIL))),
  );
  (s.dnsNames ?? []).forEach((v, i) =>
    names.push(contextPrimitive(GeneralNameTag.dNSName, ia5('dnsNames', v, i, DNS_NAME))),
  );
  (s.uris ?? []).forEach((v, i) =>
    names.push(contextPrimitive(GeneralNameTag.uniformResourceIdentifier, ia5('uris', v, i, URI))),
  );
  (s.ipAddresses ?? []).forEach((v, i) => {
    const bytes = ipToBytes(v);
    if (bytes === undefined) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `ipAddresses[${i}] "${v.slice(0, 80)}" is not an IPv4 or IPv6 address`,
        { hint: 'write addresses like 10.0.0.1 or fd00::1' },
      );
    }
    names.push(contextPrimitive(GeneralNameTag.iPAddress, bytes));
  });
  (s.otherNames ?? []).forEach((v, i) => names.push(encodeOtherName(v, i)));
  return sequence(...names);
}

/** The largest otherName value accepted, in UTF-8 octets (the same bound as other names). */
const MAX_OTHER_NAME_OCTETS = 2048;

/** RFC 5280 §4.2.1.6: otherName [0] { type-id OID, value [0] EXPLICIT ANY }; the value a UTF8String as cert-manager writes it. */
function encodeOtherName(name: OtherName, index: number): Buffer {
  if (typeof name.oid !== 'string' || !OID_PATTERN.test(name.oid)) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `otherNames[${index}].oid "${String(name.oid).slice(0, 80)}" is not an object identifier`,
      { hint: 'write it in dotted form, e.g. 1.3.6.1.4.1.311.20.2.3' },
    );
  }
  const value = Buffer.from(name.utf8Value, 'utf8');
  // A lone surrogate does not survive the UTF-8 round trip: refuse it rather than write U+FFFD.
  const wellFormed = value.toString('utf8') === name.utf8Value;
  if (value.length === 0 || value.length > MAX_OTHER_NAME_OCTETS || !wellFormed) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `otherNames[${index}].utf8Value must be 1 to ${MAX_OTHER_NAME_OCTETS} octets of valid UTF-8, got ${value.length}`,
      { hint: 'give a non-empty value such as user@example.com' },
    );
  }
  return contextConstructed(0, oid(name.oid), contextConstructed(0, tlv(Tag.UTF8_STRING, value)));
}

/** Decoded GeneralNames: the four kinds meshca reads, plus the names of any other kinds present. */
export interface DecodedGeneralNames {
  readonly sans: SubjectAltNames;
  /** Kinds present that SubjectAltNames cannot hold (directoryName, an otherName whose value is not a UTF8String …). */
  readonly otherKinds: string[];
}

/** Decodes a GeneralNames SEQUENCE from the reader's next TLV. */
export function decodeGeneralNames(reader: DerReader, field: string): DecodedGeneralNames {
  const node = reader.expect(Tag.SEQUENCE, field);
  const r = DerReader.within(reader.buf, node, `${reader.path}.${field}`);
  const sans = emptySans();
  const otherKinds: string[] = [];
  let i = 0;
  while (!r.atEnd()) {
    const name = r.next(`[${i}]`);
    const bytes = r.content(name);
    const choice = name.tag & 0x1f;
    if ((name.tag & 0xc0) !== 0x80)
      throw r.fail(`[${i}]`, 'a GeneralName must be context-tagged', name.headerStart);
    const text = (): string => {
      if (!isIa5(bytes.toString('latin1')))
        throw r.fail(`[${i}]`, 'an IA5String name holds non-ASCII bytes', name.start);
      return bytes.toString('latin1');
    };
    if (name.tag === (0x80 | GeneralNameTag.rfc822Name)) sans.emailAddresses.push(text());
    else if (name.tag === (0x80 | GeneralNameTag.dNSName)) sans.dnsNames.push(text());
    else if (name.tag === (0x80 | GeneralNameTag.uniformResourceIdentifier)) sans.uris.push(text());
    else if (name.tag === (0x80 | GeneralNameTag.iPAddress)) {
      if (bytes.length !== 4 && bytes.length !== 16)
        throw r.fail(`[${i}]`, `an iPAddress must be 4 or 16 octets, not ${bytes.length}`, name.start);
      sans.ipAddresses.push(bytesToIp(bytes));
    } else if (name.tag === 0xa0) {
      const other = decodeOtherName(reader.buf, name, `${r.path}[${i}]`);
      if (other === undefined) otherKinds.push('otherName');
      else (sans.otherNames ??= []).push(other);
    } else otherKinds.push(OTHER_KINDS[choice] ?? `[${choice}]`);
    i++;
  }
  return { sans, otherKinds };
}

/** An otherName with a UTF8String value; undefined for another value type (kept as an unsupported kind). */
function decodeOtherName(buf: Buffer, node: DerNode, path: string): OtherName | undefined {
  const r = DerReader.within(buf, node, path);
  const typeId = r.readOid('type-id');
  const wrapper = r.expect(0xa0, 'value');
  r.finish();
  const vr = DerReader.within(buf, wrapper, `${path}.value`);
  const inner = vr.next('[0]');
  vr.finish();
  if (inner.tag !== Tag.UTF8_STRING) return undefined;
  const bytes = vr.content(inner);
  try {
    return { oid: typeId, utf8Value: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    throw vr.fail('[0]', 'the otherName UTF8String holds bytes that are not valid UTF-8', inner.start);
  }
}
