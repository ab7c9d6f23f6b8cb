import type { Certificate } from '../certificate/certificate.js';
import type { ExtKeyUsage } from '../extensions/extensions.js';
import { truncateForMessage } from '../der/der-reader.js';
import { OID } from '../der/oids.js';
import { publicKeysEqual } from '../keys/key-spec.js';
import { nameConstraintViolation, unsupportedNameConstraints } from '../extensions/name-constraints.js';
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
 * The most candidate issuers verifyChain tries (one signature verification each) before it gives
 * up. A normal chain needs one per link, a root rotation a few more; without a bound, many
 * certificates sharing one name (self-issued, cross-signed) make the search try every ordering
 * of them, exponential in their number. Go's crypto/x509 bounds its search the same way (100).
 */
export const MAX_CANDIDATE_ISSUERS_TRIED = 100;

/**
 * Verifies `leaf` up to one of `roots` (RFC 5280 §6.1, the parts a mesh needs): signatures,
 * validity at `at`, CA flags, path length, keyCertSign, unknown critical extensions, name
 * constraints and the leaf's extended key usage. Tries every candidate issuer (roots may share a
 * name during rotation) and, on failure, gives the reason from the longest path tried. A
 * candidate with the subject and key of a CA already on the path is skipped (the shorter path
 * through it is tried anyway), and the search stops with "too many candidate issuers" after
 * MAX_CANDIDATE_ISSUERS_TRIED signature verifications.
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
  let tried = 0;
  let exhausted: { reason: string; chain: Certificate[] } | undefined;

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
    // A CA with the subject and key of one already above the leaf adds nothing: whatever it
    // signed, that one signed too, so the path without the loop is (or was) tried directly.
    // The leaf is not compared: a re-issued root must still verify against its old copy.
    const fresh = named.filter((c) => !path.slice(1).some((p) => sameSubjectAndKey(p, c)));
    if (fresh.length === 0) {
      fail(
        `${label(current, path.length - 1)} was issued by "${current.issuerString}", but every certificate of that name repeats the name and key of a CA already on the path, so none leads to a trusted root`,
        path,
      );
      return undefined;
    }
    for (const candidate of fresh) {
      if (tried >= MAX_CANDIDATE_ISSUERS_TRIED) {
        exhausted ??= {
          reason: `too many candidate issuers: gave up after trying ${MAX_CANDIDATE_ISSUERS_TRIED} without finding a valid path (the pool holds ${pool.length} certificates; many share the name "${truncateForMessage(current.issuerString)}")`,
          chain: path,
        };
        return undefined;
      }
      tried++;
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
      if (exhausted !== undefined) return undefined;
    }
    return undefined;
  };

  const chain = extend([leaf]);
  if (chain !== undefined) return { ok: true, chain };
  if (exhausted !== undefined) return { ok: false, ...exhausted };
  return { ok: false, reason: best.reason, chain: best.chain };
}

function sameSubjectAndKey(a: Certificate, b: Certificate): boolean {
  if (!a.subjectDer.equals(b.subjectDer)) return false;
  try {
    return publicKeysEqual(a.publicKey, b.publicKey);
  } catch {
    return false; // an unreadable key: leave it to signedBy to say why
  }
}

function checkPath(path: Certificate[], options: ChainVerificationOptions): string | undefined {
  const at = options.at.getTime();
  for (const [i, c] of path.entries()) {
    if (at < c.notBefore.getTime()) return `${label(c, i)} is not valid until ${c.notBefore.toISOString()}`;
    if (at > c.notAfter.getTime()) return `${label(c, i)} expired at ${c.notAfter.toISOString()}`;
    if (c.unknownCriticalExtensions.length > 0)
      return `${label(c, i)} has critical extensions meshca does not understand: ${c.unknownCriticalExtensions.map((o) => truncateForMessage(o)).join(', ')}`;
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
      const unsupported = unsupportedNameConstraints(c.nameConstraints);
      if (unsupported !== undefined) return `${label(c, i)} cannot be used: ${unsupported}`;
      for (const [j, sub] of path.slice(0, i).entries()) {
        const reason = nameConstraintViolation(sub.sans, c.nameConstraints);
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
