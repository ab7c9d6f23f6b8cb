/**
 * cert-manager's KeyUsage strings (cert-manager.io/v1), in its order: key usages first, then
 * extended key usages.
 */
export const KEY_USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
] as const;

/** One of cert-manager's KeyUsage strings. */
export type KeyUsage = (typeof KEY_USAGES)[number];
