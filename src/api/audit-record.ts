/**
 * One issuance on the CSR hot path, appended in batches to the store's audit log (DESIGN §2:
 * the hot path writes a compact record, not a resource per CSR). Times are RFC 3339 strings.
 */
export interface AuditRecord {
  /** The certificate's serial number, lowercase hex without separators. */
  serialNumber: string;
  /** The SPIFFE ID the certificate was issued to (its URI SAN). */
  identity: string;
  /** Who asked: the authenticated caller (the token's subject), which may differ from identity for a proxy. */
  caller: string;
  /** The `clusterid` the request came with. */
  clusterId: string;
  /** RFC 3339. */
  notBefore: string;
  /** RFC 3339. */
  notAfter: string;
  /** SHA-256 of the certificate's DER, lowercase hex (64 characters). */
  fingerprintSha256: string;
  /** The issuer that signed, as `<Kind>/<namespace>/<name>` or `ClusterIssuer/<name>`. */
  issuer: string;
  /** RFC 3339: when meshca signed it; the audit log is ordered and pruned by this. */
  issuedAt: string;
}
