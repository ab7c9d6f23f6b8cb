import type { Certificate } from '../certificate/certificate.js';
import type { ExtKeyUsage, NameConstraints } from '../extensions/extensions.js';
import { OID } from '../der/oids.js';
import { ipToBytes } from '../names/ip-address.js';
import { MAX_CHAIN_LENGTH, signedBy } from './build-chain.js';

/** The outcome of verifying a chain: the path found, and the reason when it does not verify. */
export type ChainVerification =
  { ok: true; chain: Certificate[] } | { ok: false; reason: string; chain: Certificate[] };

/** What to verify against. */
export interface ChainVerificationOptions {
  intermediates?: readonly Certificate[];
  /** Trust anchors: the chain must end at one of these. */
  roots: readonly Certificate[];
  /** The instant every certificate must be valid at. */
  at: Date;
  /** When set, the leaf must allow this extended key usage (absent EKU allows any). */
  extKeyUsage?: ExtKeyUsage;
}

const label = (c: Certificate, i: number): string =>
  `certificate ${i} ("${c.subjectString || c.sans.uris[0] || c.sans.dnsNames[0] || c.serialNumber}")`;

/**
 * Verifies `leaf` up to one of `roots` (RFC 5280 §6.1, the parts a mesh needs): signatures,
 * validity at `at`, CA flags, path length, keyCertSign, unknown critical extensions, name
 * constraints and the leaf's extended key usage. Tries every candidate issuer (roots may share a
 * name during rotation) and, on failure, gives the reason from the longest path tried.
 */
export function verifyChain(leaf: Certificate, options: ChainVerificationOptions): ChainVerification {
  const rootPrints = new Set(options.roots.map((r) => r.fingerprintSha256));
  const pool = [...options.roots, ...(options.intermediates ?? [])];
  let best: { reason: string; chain: Certificate[] } = {
    reason: 'no path to a trusted root was found',
    chain: [leaf],
  };
  const fail = (reason: string, chain: Certificate[]): void => {
    if (chain.length >= best.chain.length) best = { reason, chain };
  };

  const extend = (path: Certificate[]): Certificate[] | undefined => {
    const current = path[path.length - 1] as Certificate;
    if (rootPrints.has(current.fingerprintSha256)) {
      const reason = checkPath(path, options);
      if (reason === undefined) return path;
      fail(reason, path);
      return undefined;
    }
    if (path.length >= MAX_CHAIN_LENGTH) {
      fail(`the chain is longer than ${MAX_CHAIN_LENGTH} certificates`, path);
      return undefined;
    }
    const named = pool.filter(
      (c) =>
        c.subjectDer.equals(current.issuerDer) &&
        !path.some((p) => p.fingerprintSha256 === c.fingerprintSha256),
    );
    if (named.length === 0) {
      fail(
        `${label(current, path.length - 1)} was issued by "${current.issuerString}", which is neither a trusted root nor a given intermediate`,
        path,
      );
      return undefined;
    }
    for (const candidate of named) {
      const reason = signedBy(current, candidate);
      if (reason !== undefined) {
        fail(`${label(current, path.length - 1)} is not signed by "${candidate.subjectString}": ${reason}`, [
          ...path,
          candidate,
        ]);
        continue;
      }
      const found = extend([...path, candidate]);
      if (found !== undefined) return found;
    }
    return undefined;
  };

  const chain = extend([leaf]);
  return chain !== undefined ? { ok: true, chain } : { ok: false, reason: best.reason, chain: best.chain };
}

function checkPath(path: Certificate[], options: ChainVerificationOptions): string | undefined {
  const at = options.at.getTime();
  for (const [i, c] of path.entries()) {
    if (at < c.notBefore.getTime()) return `${label(c, i)} is not valid until ${c.notBefore.toISOString()}`;
    if (at > c.notAfter.getTime()) return `${label(c, i)} expired at ${c.notAfter.toISOString()}`;
    if (c.unknownCriticalExtensions.length > 0)
      return `${label(c, i)} has critical extensions meshca does not understand: ${c.unknownCriticalExtensions.join(', ')}`;
    if (i === 0) continue;
    if (!c.isCA) return `${label(c, i)} signs certificates but is not a CA (BasicConstraints cA is not set)`;
    if (c.keyUsages !== undefined && !c.keyUsages.includes('keyCertSign'))
      return `${label(c, i)} is a CA whose key usage lacks keyCertSign`;
    // RFC 5280 §6.1.4 (l)-(m): non-self-issued intermediates below this CA count against its pathLen.
    if (c.pathLen !== undefined) {
      const below = path.slice(1, i).filter((p) => !p.subjectDer.equals(p.issuerDer)).length;
      if (below > c.pathLen)
        return `${label(c, i)} allows ${c.pathLen} intermediate CA(s) below it (pathLen), but the chain has ${below}`;
    }
    if (c.nameConstraints !== undefined) {
      for (const [j, sub] of path.slice(0, i).entries()) {
        const reason = nameConstraintViolation(sub, c.nameConstraints);
        if (reason !== undefined)
          return `${label(sub, j)} breaks the name constraints of ${label(c, i)}: ${reason}`;
      }
    }
  }
  const want = options.extKeyUsage;
  const leaf = path[0] as Certificate;
  if (want !== undefined && leaf.extKeyUsages !== undefined) {
    const wantOid = (OID as Record<string, string>)[want] ?? want;
    const ok = leaf.extKeyUsages.some(
      (u) =>
        u === want || ((OID as Record<string, string>)[u] ?? u) === wantOid || u === OID.anyExtendedKeyUsage,
    );
    if (!ok)
      return `${label(leaf, 0)} does not allow ${want} (its extended key usages are ${leaf.extKeyUsages.join(', ')})`;
  }
  return undefined;
}

// RFC 5280 §4.2.1.10: "example.com" matches the host and its subdomains; ".example.com" only subdomains.
function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase().replace(/\.$/, '');
  if (c === '') return true;
  if (c.startsWith('.')) return n.endsWith(c);
  return n === c || n.endsWith(`.${c}`);
}

function uriHost(uri: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]*)/.exec(uri);
  return m?.[1] ?? '';
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

function nameConstraintViolation(cert: Certificate, nc: NameConstraints): string | undefined {
  const kinds: [
    string,
    string[],
    string[] | undefined,
    string[] | undefined,
    (n: string, c: string) => boolean,
  ][] = [
    ['DNS name', cert.sans.dnsNames, nc.permittedDnsDomains, nc.excludedDnsDomains, dnsMatches],
    [
      'URI',
      cert.sans.uris,
      nc.permittedUriDomains,
      nc.excludedUriDomains,
      (n, c) => dnsMatches(uriHost(n), c),
    ],
    [
      'e-mail address',
      cert.sans.emailAddresses,
      nc.permittedEmailAddresses,
      nc.excludedEmailAddresses,
      emailMatches,
    ],
    ['IP address', cert.sans.ipAddresses, nc.permittedIpRanges, nc.excludedIpRanges, ipInRange],
  ];
  for (const [kind, names, permitted, excluded, matches] of kinds) {
    for (const n of names) {
      if (permitted !== undefined && permitted.length > 0 && !permitted.some((c) => matches(n, c)))
        return `${kind} "${n}" is not within the permitted ${permitted.join(', ')}`;
      const hit = excluded?.find((c) => matches(n, c));
      if (hit !== undefined) return `${kind} "${n}" is excluded by "${hit}"`;
    }
  }
  return undefined;
}
