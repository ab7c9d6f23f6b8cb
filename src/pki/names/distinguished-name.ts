import { MeshcaError } from '../../errors/index.js';
import { DerReader } from '../der/der-reader.js';
import { Tag, directoryString, oid, sequence, setOf } from '../der/der-writer.js';
import { OID } from '../der/oids.js';

/** A subject or issuer name, with cert-manager's `subject` field names. */
export interface DistinguishedName {
  commonName?: string;
  organizations?: string[];
  organizationalUnits?: string[];
  countries?: string[];
  provinces?: string[];
  localities?: string[];
  streetAddresses?: string[];
  postalCodes?: string[];
  serialNumber?: string;
}

type ListField =
  | 'organizations'
  | 'organizationalUnits'
  | 'countries'
  | 'provinces'
  | 'localities'
  | 'streetAddresses'
  | 'postalCodes';

interface Attribute {
  readonly field: ListField | 'commonName' | 'serialNumber';
  readonly oid: string;
  readonly short: string;
}

// Encoding order follows Go's pkix.Name.ToRDNSequence, which cert-manager's names come from, so
// a name meshca writes is byte-identical to the one cert-manager would write.
const ATTRIBUTES: readonly Attribute[] = [
  { field: 'countries', oid: OID.countryName, short: 'C' },
  { field: 'provinces', oid: OID.stateOrProvinceName, short: 'ST' },
  { field: 'localities', oid: OID.localityName, short: 'L' },
  { field: 'streetAddresses', oid: OID.streetAddress, short: 'STREET' },
  { field: 'postalCodes', oid: OID.postalCode, short: 'POSTALCODE' },
  { field: 'organizations', oid: OID.organizationName, short: 'O' },
  { field: 'organizationalUnits', oid: OID.organizationalUnitName, short: 'OU' },
  { field: 'commonName', oid: OID.commonName, short: 'CN' },
  { field: 'serialNumber', oid: OID.serialNumber, short: 'SERIALNUMBER' },
];
const BY_OID = new Map(ATTRIBUTES.map((a) => [a.oid, a]));
const EXTRA_SHORT: Record<string, string> = {
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** ub-common-name, RFC 5280 Appendix A.1. */
const MAX_COMMON_NAME = 64;

const valuesOf = (dn: DistinguishedName, a: Attribute): string[] => {
  const v = dn[a.field];
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : v;
};

/** True when the name has no attribute at all. */
export function isEmptyName(dn: DistinguishedName): boolean {
  return ATTRIBUTES.every((a) => valuesOf(dn, a).every((v) => v === ''));
}

/** Encodes a Name (RFC 5280 §4.1.2.4): one attribute per RDN, empty strings left out. */
export function encodeName(dn: DistinguishedName): Buffer {
  const rdns: Buffer[] = [];
  for (const a of ATTRIBUTES) {
    for (const value of valuesOf(dn, a)) {
      if (value === '') continue;
      if (a.field === 'commonName' && [...value].length > MAX_COMMON_NAME) {
        throw new MeshcaError(
          'INVALID_INPUT',
          `subject commonName is ${[...value].length} characters; RFC 5280 allows at most ${MAX_COMMON_NAME}`,
          {
            hint: 'shorten the common name, or put long names in dnsNames instead',
          },
        );
      }
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f\x7f]/.test(value)) {
        throw new MeshcaError('INVALID_INPUT', `subject ${a.field} contains a control character`, {
          hint: 'remove control characters from the name',
        });
      }
      rdns.push(setOf(sequence(oid(a.oid), directoryString(value))));
    }
  }
  return sequence(...rdns);
}

/** A decoded Name: the typed fields meshca knows and the display string of every attribute. */
export interface DecodedName {
  readonly dn: DistinguishedName;
  readonly text: string;
}

/** Decodes a Name from the reader's next TLV. */
export function decodeName(reader: DerReader, field: string): DecodedName {
  const node = reader.expect(Tag.SEQUENCE, field);
  const rdnReader = DerReader.within(reader.buf, node, `${reader.path}.${field}`);
  const dn: DistinguishedName = {};
  const parts: string[] = [];
  let i = 0;
  while (!rdnReader.atEnd()) {
    const set = rdnReader.expect(Tag.SET, `rdn[${i}]`);
    const setReader = DerReader.within(reader.buf, set, `${rdnReader.path}.rdn[${i}]`);
    const inRdn: string[] = [];
    let j = 0;
    while (!setReader.atEnd()) {
      const atv = setReader.expect(Tag.SEQUENCE, `attribute[${j}]`);
      const atvReader = DerReader.within(reader.buf, atv, `${setReader.path}.attribute[${j}]`);
      const type = atvReader.readOid('type');
      const value = decodeString(atvReader, 'value');
      atvReader.finish();
      const known = BY_OID.get(type);
      if (known !== undefined) {
        if (known.field === 'commonName' || known.field === 'serialNumber') dn[known.field] = value;
        else (dn[known.field] ??= []).push(value);
      }
      inRdn.push(`${known?.short ?? EXTRA_SHORT[type] ?? type}=${escapeValue(value)}`);
      j++;
    }
    if (j === 0)
      throw rdnReader.fail(`rdn[${i}]`, 'a relative distinguished name must hold at least one attribute');
    parts.push(inRdn.join('+'));
    i++;
  }
  return { dn, text: parts.reverse().join(', ') };
}

/** Decodes one of the string types X.520 and RFC 5280 use. */
export function decodeString(reader: DerReader, field: string): string {
  const node = reader.next(field);
  const bytes = reader.content(node);
  switch (node.tag) {
    case Tag.UTF8_STRING:
      return bytes.toString('utf8');
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case 0x14: // TeletexString, read as Latin-1 as most software does
      return bytes.toString('latin1');
    case 0x1e: // BMPString: UCS-2 big-endian
      if (bytes.length % 2 !== 0) throw reader.fail(field, 'a BMPString has an odd length', node.start);
      return Buffer.from(bytes).swap16().toString('utf16le');
    default:
      throw reader.fail(field, `tag 0x${node.tag.toString(16)} is not a string type`, node.headerStart);
  }
}

// RFC 4514 §2.4: escape the special characters, a leading '#' or space, and a trailing space.
function escapeValue(value: string): string {
  return value
    .replace(/[\\"+,;<>]/g, (c) => `\\${c}`)
    .replace(/^[# ]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

/** A name for display, most specific first: "CN=istio-ca, O=cluster.local" (RFC 4514 order). */
export function formatDistinguishedName(dn: DistinguishedName): string {
  const parts: string[] = [];
  for (const a of ATTRIBUTES)
    for (const v of valuesOf(dn, a)) if (v !== '') parts.push(`${a.short}=${escapeValue(v)}`);
  return parts.reverse().join(', ');
}
