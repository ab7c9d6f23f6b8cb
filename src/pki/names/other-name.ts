/** A SAN otherName (RFC 5280 §4.2.1.6) whose value is a UTF8String, as cert-manager's spec.otherNames. */
export interface OtherName {
  /** The type-id, dotted (e.g. 1.3.6.1.4.1.311.20.2.3, a Microsoft UPN). */
  oid: string;
  utf8Value: string;
}

/** A dotted object identifier: first arc 0–2, at least two arcs, no leading zeros. */
export const OID_PATTERN = /^[0-2](\.(0|[1-9][0-9]{0,18})){1,63}$/;
