/** Object identifiers meshca reads and writes, by the names their RFCs give them. */
export const OID = {
  // RFC 5280 §4.1.2.4 / X.520 attribute types
  commonName: '2.5.4.3',
  serialNumber: '2.5.4.5',
  countryName: '2.5.4.6',
  localityName: '2.5.4.7',
  stateOrProvinceName: '2.5.4.8',
  streetAddress: '2.5.4.9',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  postalCode: '2.5.4.17',
  // RFC 5280 §4.2.1 certificate extensions
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  // RFC 2985 §5.4.2 PKCS#9 extensionRequest
  extensionRequest: '1.2.840.113549.1.9.14',
  // public key algorithms (RFC 5480, RFC 8017, RFC 8410)
  ecPublicKey: '1.2.840.10045.2.1',
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ed25519: '1.3.101.112',
  // signature algorithms (RFC 5758 §3.2, RFC 4055 §5, RFC 8410 §3)
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha1WithRsa: '1.2.840.113549.1.1.5',
  // RFC 5280 §4.2.1.12 extended key usages
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/**
 * The longest OBJECT IDENTIFIER meshca reads or writes, in content octets. Real OIDs are far
 * shorter (Microsoft's certificate-template OIDs and 2.25 UUID OIDs, among the longest in use,
 * are under 40 octets); X.690 sets no limit, and without one a 60 KB OID in a CSR cost ~300 ms of
 * BigInt work and a 126 KB string. 128 octets is at most 129 arcs and a dotted string of at most
 * ~520 characters.
 */
export const MAX_OID_CONTENT_OCTETS = 128;
