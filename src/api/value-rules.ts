import * as z from 'zod';
import { isMeshcaError } from '../errors/index.js';
import { parseGoDuration } from './go-duration.js';

/*
 * Value rules: each takes a value and returns undefined when it is valid, or the reason it is not
 * (a lowercase sentence that says what is expected). The schemas and the cross-field rules use them.
 */

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_LABEL = new RegExp(`^${LABEL}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const SAN_LABEL = /^[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?$/;
const OID = /^(0|1|2)(\.(0|[1-9]\d*))+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const ipv4 = z.ipv4();
const ipv6 = z.ipv6();
// RFC 5322 atext (Go's net/mail, ASCII only) and the domain labels meshca writes into an rfc822Name.
const EMAIL_LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const EMAIL_DOMAIN_LABEL = /^[A-Za-z0-9_-]+$/;
const EMAIL_EXAMPLE = '(e.g. "security@example.com")';

/** A DNS-1123 subdomain: metadata.name of most kinds, Secret names. */
export function checkDns1123Subdomain(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 253) return `must be at most 253 characters (it has ${value.length})`;
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return 'must be a lowercase RFC 1123 subdomain: letters a-z, digits, "-" and ".", starting and ending with a letter or digit (e.g. "istio-ca")';
  }
  return undefined;
}

/** A DNS-1123 label: namespaces. */
export function checkDns1123Label(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 63) return `must be at most 63 characters (it has ${value.length})`;
  if (!DNS1123_LABEL.test(value)) {
    return 'must be a lowercase RFC 1123 label: letters a-z, digits and "-", starting and ending with a letter or digit (e.g. "istio-system")';
  }
  return undefined;
}

/** A label or annotation key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
export function checkQualifiedName(value: string): string | undefined {
  const slash = value.lastIndexOf('/');
  const prefix = slash >= 0 ? value.slice(0, slash) : undefined;
  const name = slash >= 0 ? value.slice(slash + 1) : value;
  if (prefix !== undefined) {
    const why = checkDns1123Subdomain(prefix);
    if (why !== undefined) return `prefix ${JSON.stringify(prefix)} ${why}`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return 'must be a qualified name: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit, optionally prefixed by a DNS subdomain and "/" (e.g. "app.kubernetes.io/name")';
  }
  return undefined;
}

/** A label value: empty, or at most 63 letters, digits, "-", "_", "." starting and ending alphanumeric. */
export function checkLabelValue(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63 || !QUALIFIED_NAME.test(value)) {
    return 'must be a label value: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/** A key of a Secret's or ConfigMap's data: `tls.crt`, `ca.crt`, `keystore.p12`. */
export function checkDataKey(value: string): string | undefined {
  if (
    value.length === 0 ||
    value.length > 253 ||
    !SECRET_KEY.test(value) ||
    value === '.' ||
    value === '..'
  ) {
    return 'must be a data key: at most 253 letters, digits, "-", "_" or "." (e.g. "tls.crt"), and not "." or ".."';
  }
  return undefined;
}

/** A DNS name for a certificate's subjectAltName; a wildcard is allowed as the whole leftmost label. */
export function checkDnsName(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > 253) return `must be at most 253 characters (it has ${value.length})`;
  const labels = value.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (label.includes('*'))
      return 'may hold a wildcard only as the whole leftmost label (e.g. "*.example.com")';
    if (label.length === 0) return 'must not have an empty label (no leading, trailing or double ".")';
    if (label.length > 63)
      return `must not have a label longer than 63 characters ("${label.slice(0, 16)}…")`;
    if (!SAN_LABEL.test(label)) {
      return `label ${JSON.stringify(label)} must hold only letters, digits, "-" and "_", and not start or end with "-"`;
    }
  }
  return undefined;
}

/**
 * A DNS name of a Certificate's dnsNames: checkDnsName, and a single trailing dot (a fully
 * qualified `example.com.`) is accepted, as cert-manager accepts it. The name is written into the
 * CSR and the certificate as given, dot included.
 */
export function checkCertificateDnsName(value: string): string | undefined {
  if (value.endsWith('..')) return 'may end with at most one "." (e.g. "example.com.")';
  return checkDnsName(value.length > 1 && value.endsWith('.') ? value.slice(0, -1) : value);
}

/** An IPv4 or IPv6 address. */
export function checkIpAddress(value: string): string | undefined {
  if (ipv4.safeParse(value).success || ipv6.safeParse(value).success) return undefined;
  return 'must be an IPv4 or IPv6 address (e.g. "10.0.0.1" or "fd00::1")';
}

/** A CIDR range such as `10.0.0.0/8` or `fd00::/8`. */
export function checkCidr(value: string): string | undefined {
  const slash = value.indexOf('/');
  const ip = slash >= 0 ? value.slice(0, slash) : value;
  const bits = slash >= 0 ? value.slice(slash + 1) : '';
  const isV4 = ipv4.safeParse(ip).success;
  const isV6 = !isV4 && ipv6.safeParse(ip).success;
  const max = isV4 ? 32 : 128;
  if ((!isV4 && !isV6) || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    return 'must be a CIDR range: an IP address, "/" and a prefix length (e.g. "10.0.0.0/8" or "fd00::/8")';
  }
  return undefined;
}

/** An absolute URI: a scheme and the rest (`spiffe://cluster.local/ns/default/sa/web`). */
export function checkAbsoluteUri(value: string): string | undefined {
  if (!URI_SCHEME.test(value) || !URL.canParse(value)) {
    return 'must be an absolute URI with a scheme (e.g. "spiffe://cluster.local/ns/default/sa/web")';
  }
  return undefined;
}

/** An HTTP or HTTPS URL: server addresses of Vault and ACME. */
export function checkHttpUrl(value: string): string | undefined {
  if (!URL.canParse(value)) return 'must be an http or https URL (e.g. "https://vault.example.com:8200")';
  const { protocol } = new URL(value);
  if (protocol !== 'https:' && protocol !== 'http:') {
    return `must be an http or https URL, not ${protocol.slice(0, -1)}`;
  }
  return undefined;
}

/**
 * An e-mail address as cert-manager accepts it (Go's mail.ParseAddress, the result equal to the
 * input): a bare addr-spec, `local@domain`, such as `root@localhost` or `a@b.c`. Refused like
 * cert-manager: display names, angle brackets, spaces, comments, quoted local parts (Go unquotes
 * them, so the result differs from the input). Refused because a certificate cannot carry them
 * (rfc822Name is an IA5String, which meshca writes for a domain name only): non-ASCII addresses
 * and address literals such as `user@[10.0.0.1]`.
 */
export function checkEmailAddress(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (/[<>]/.test(value)) {
    return `must be the address alone, without a display name or angle brackets ${EMAIL_EXAMPLE}`;
  }
  if (/\s/.test(value)) return `must not contain spaces or line breaks ${EMAIL_EXAMPLE}`;
  if (/[^\x21-\x7e]/.test(value)) {
    return 'must be ASCII: a certificate holds an e-mail address as an IA5String, so internationalized addresses cannot be written';
  }
  const at = value.lastIndexOf('@');
  if (at < 0) return `must be an e-mail address ${EMAIL_EXAMPLE}`;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.startsWith('"')) {
    return 'must not quote the local part: cert-manager reads "a"@example.com as a@example.com and refuses it; write the address without quotes';
  }
  if (local.length === 0 || !local.split('.').every((atom) => EMAIL_LOCAL_ATOM.test(atom))) {
    return `local part ${JSON.stringify(local)} must be letters, digits and !#$%&'*+-/=?^_\`{|}~ in runs separated by single dots, not starting or ending with a dot`;
  }
  if (domain.startsWith('[')) {
    return 'must name a domain, not an address literal such as [10.0.0.1]: meshca cannot write one into a certificate';
  }
  if (domain.length === 0 || !domain.split('.').every((label) => EMAIL_DOMAIN_LABEL.test(label))) {
    return `domain ${JSON.stringify(domain)} must be labels of letters, digits, "-" and "_" separated by single dots (e.g. "example.com" or "localhost")`;
  }
  return undefined;
}

/** An object identifier in dotted form (`1.3.6.1.4.1.311.20.2.3`). */
export function checkOid(value: string): string | undefined {
  return OID.test(value)
    ? undefined
    : 'must be an object identifier in dotted form (e.g. "1.3.6.1.4.1.311.20.2.3")';
}

/** Standard base64 with padding, as Kubernetes stores Secret data. */
export function checkBase64(value: string): string | undefined {
  return BASE64.test(value) ? undefined : 'must be standard base64 with padding (encode with `base64 -w0`)';
}

/** A Go duration (`720h`, `1h30m`); Go durations have no days. */
export function checkGoDuration(value: string): string | undefined {
  try {
    parseGoDuration(value);
    return undefined;
  } catch (err) {
    if (isMeshcaError(err))
      return `${err.message.replace(/^invalid duration "(?:[^"\\]|\\.)*": /, 'must be a Go duration such as "720h" or "1h30m"; ')}`;
    throw err;
  }
}
