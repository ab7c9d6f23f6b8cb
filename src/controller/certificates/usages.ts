import type { KeyUsage as CertManagerUsage } from '../../api/key-usage.js';
import type { ExtKeyUsage, KeyUsage } from '../../pki/index.js';

/** A cert-manager usage as an X.509 key usage bit or an extended key usage. */
type Mapped = { key: KeyUsage } | { ext: ExtKeyUsage };

// cert-manager's usage strings (pkg/apis/certmanager/v1 KeyUsage) and the X.509 bits or purposes
// they mean (RFC 5280 §4.2.1.3, §4.2.1.12; the IPsec, SGC and "any" purposes by OID).
const USAGES: Readonly<Record<CertManagerUsage, Mapped>> = {
  signing: { key: 'digitalSignature' },
  'digital signature': { key: 'digitalSignature' },
  'content commitment': { key: 'contentCommitment' },
  'key encipherment': { key: 'keyEncipherment' },
  'key agreement': { key: 'keyAgreement' },
  'data encipherment': { key: 'dataEncipherment' },
  'cert sign': { key: 'keyCertSign' },
  'crl sign': { key: 'cRLSign' },
  'encipher only': { key: 'encipherOnly' },
  'decipher only': { key: 'decipherOnly' },
  any: { ext: '2.5.29.37.0' },
  'server auth': { ext: 'serverAuth' },
  'client auth': { ext: 'clientAuth' },
  'code signing': { ext: 'codeSigning' },
  'email protection': { ext: 'emailProtection' },
  's/mime': { ext: 'emailProtection' },
  'ipsec end system': { ext: '1.3.6.1.5.5.7.3.5' },
  'ipsec tunnel': { ext: '1.3.6.1.5.5.7.3.6' },
  'ipsec user': { ext: '1.3.6.1.5.5.7.3.7' },
  timestamping: { ext: 'timeStamping' },
  'ocsp signing': { ext: 'OCSPSigning' },
  'microsoft sgc': { ext: '1.3.6.1.4.1.311.10.3.3' },
  'netscape sgc': { ext: '2.16.840.1.113730.4.1' },
};

/** cert-manager's default usages when a Certificate names none. */
export const DEFAULT_USAGES: readonly CertManagerUsage[] = ['digital signature', 'key encipherment'];

/** The X.509 usages a Certificate asks for. */
export interface MappedUsages {
  readonly keyUsages: KeyUsage[];
  readonly extKeyUsages: ExtKeyUsage[];
}

/**
 * Maps cert-manager usage strings to X.509 key usages and extended key usages, deduplicated and
 * sorted. Like cert-manager, no usages means digital signature + key encipherment, and a CA
 * always gets cert sign. Throws nothing: unknown strings were refused by validation; any that
 * reach here are ignored rather than guessed.
 */
export function mapUsages(usages: readonly string[] | undefined, isCA: boolean): MappedUsages {
  const keyUsages = new Set<KeyUsage>();
  const extKeyUsages = new Set<ExtKeyUsage>();
  const asked = usages === undefined || usages.length === 0 ? DEFAULT_USAGES : usages;
  for (const usage of asked) {
    const mapped = (USAGES as Readonly<Record<string, Mapped>>)[usage];
    if (mapped === undefined) continue;
    if ('key' in mapped) keyUsages.add(mapped.key);
    else extKeyUsages.add(mapped.ext);
  }
  if (isCA) keyUsages.add('keyCertSign');
  return { keyUsages: [...keyUsages].sort(), extKeyUsages: [...extKeyUsages].sort() };
}
