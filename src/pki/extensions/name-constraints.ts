import { truncateForMessage } from '../der/der-reader.js';
import { ipToBytes } from '../names/ip-address.js';
import type { SubjectAltNames } from '../names/subject-alt-names.js';
import type { NameConstraints } from './extensions.js';

/**
 * Name-constraint matching (RFC 5280 §4.2.1.10), shared by chain verification and issuance so a
 * CA never signs a certificate that verification would refuse under it.
 *
 * Enforced: dNSName, rfc822Name, uniformResourceIdentifier (by host) and iPAddress subtrees
 * against the SANs of those kinds. Any other subtree kind (directoryName, otherName,
 * registeredID, x400Address, ediPartyName, or a subtree with minimum/maximum) is not enforced:
 * it is listed in `NameConstraints.unsupportedSubtrees`, and a CA carrying one is refused
 * outright, critical or not (§4.2.1.10 requires rejecting a critical extension with a form the
 * implementation cannot process; meshca never ignores one silently).
 */

/** The longest name or constraint echoed in a message; longer ones are cut with an ellipsis. */
const MAX_ECHO = 200;

const cut = (s: string, max = MAX_ECHO): string => truncateForMessage(s, max);

/** `s` quoted for a message, cut at MAX_ECHO characters. */
function quoteForMessage(s: string, max = MAX_ECHO): string {
  return JSON.stringify(cut(s, max));
}

/** A constraint list for a message: the first five, each cut. */
const listForMessage = (values: readonly string[]): string =>
  values
    .slice(0, 5)
    .map((v) => cut(v))
    .join(', ') + (values.length > 5 ? ` and ${values.length - 5} more` : '');

// "example.com" matches the host and its subdomains; ".example.com" only subdomains.
function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith(`.${c}`);
}

/**
 * The host of a URI for constraint matching, or why it has none that can be matched: no
 * authority (urn:x, spiffe:x) or an empty host, an IP literal (Go's crypto/x509 refuses these
 * two the same way), or a percent-encoded host (which a relying party may decode differently).
 */
function uriHost(uri: string): { host: string } | { problem: string } {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/.exec(uri);
  const host = m?.[1] ?? '';
  if (host === '') return { problem: 'has no host to match against the URI constraints' };
  if (host.startsWith('[') || ipToBytes(host) !== undefined)
    return { problem: 'has an IP address as its host, which URI constraints cannot match' };
  if (host.includes('%')) return { problem: 'has a percent-encoded host, which meshca does not match' };
  return { host };
}

function emailMatches(email: string, constraint: string): boolean {
  if (constraint.includes('@')) return email.toLowerCase() === constraint.toLowerCase();
  const domain = email.slice(email.lastIndexOf('@') + 1);
  return constraint.startsWith('.')
    ? dnsMatches(domain, constraint) && domain.toLowerCase() !== constraint.slice(1).toLowerCase()
    : domain.toLowerCase() === constraint.toLowerCase();
}

function ipInRange(ip: string, cidr: string): boolean {
  const addr = ipToBytes(ip);
  const [base = '', bitsText = ''] = cidr.split('/');
  const net = ipToBytes(base);
  if (addr === undefined || net === undefined || addr.length !== net.length) return false;
  const bits = Number(bitsText);
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i & 7);
    if (((addr[i >> 3] ?? 0) & mask) !== ((net[i >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

/** Why `nc` cannot be enforced (subtree kinds meshca does not implement), or undefined. */
export function unsupportedNameConstraints(nc: NameConstraints): string | undefined {
  const kinds = nc.unsupportedSubtrees ?? [];
  if (kinds.length === 0) return undefined;
  return `its name constraints hold subtrees meshca cannot enforce (${[...new Set(kinds)].slice(0, 5).join(', ')}); RFC 5280 §4.2.1.10 requires refusing them rather than ignoring them`;
}

/**
 * The first name of `sans` that `nc` forbids, as "URI "spiffe://x/…" is not within the permitted
 * "cluster.local"", or undefined when every name is allowed. Constraints of a kind apply only to
 * names of that kind; unsupported subtree kinds are the caller's to refuse (see
 * unsupportedNameConstraints).
 */
export function nameConstraintViolation(
  sans: Partial<SubjectAltNames>,
  nc: NameConstraints,
): string | undefined {
  const kinds: [
    string,
    readonly string[],
    readonly string[] | undefined,
    readonly string[] | undefined,
    (n: string, c: string) => boolean,
  ][] = [
    ['DNS name', sans.dnsNames ?? [], nc.permittedDnsDomains, nc.excludedDnsDomains, dnsMatches],
    [
      'URI',
      sans.uris ?? [],
      nc.permittedUriDomains,
      nc.excludedUriDomains,
      (n, c) => {
        const h = uriHost(n);
        return 'host' in h && dnsMatches(h.host, c);
      },
    ],
    [
      'e-mail address',
      sans.emailAddresses ?? [],
      nc.permittedEmailAddresses,
      nc.excludedEmailAddresses,
      emailMatches,
    ],
    ['IP address', sans.ipAddresses ?? [], nc.permittedIpRanges, nc.excludedIpRanges, ipInRange],
  ];
  for (const [kind, names, permitted, excluded, matches] of kinds) {
    const constrained = (permitted?.length ?? 0) > 0 || (excluded?.length ?? 0) > 0;
    if (!constrained) continue;
    for (const n of names) {
      if (kind === 'URI') {
        const h = uriHost(n);
        if ('problem' in h) return `${kind} ${quoteForMessage(n)} ${h.problem}`;
      }
      if (permitted !== undefined && permitted.length > 0 && !permitted.some((c) => matches(n, c)))
        return `${kind} ${quoteForMessage(n)} is not within the permitted ${listForMessage(permitted)}`;
      const hit = excluded?.find((c) => matches(n, c));
      if (hit !== undefined) return `${kind} ${quoteForMessage(n)} is excluded by ${quoteForMessage(hit)}`;
    }
  }
  return undefined;
}
