import { MeshcaError } from '../../errors/index.js';

/** A SPIFFE ID (spiffe://<trust-domain><path>), valid by the SPIFFE ID standard. */
export interface SpiffeId {
  readonly trustDomain: string;
  /** "" or "/seg/seg…". */
  readonly path: string;
  toString(): string;
}

/** SPIFFE ID standard §2.3: a URI of at most 2048 bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE ID standard §2.1: a trust domain of at most 255 bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = 'spiffe://';
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/;

function invalid(uri: string, rule: string): MeshcaError {
  const shown = uri.length > 120 ? `${uri.slice(0, 120)}…` : uri;
  return new MeshcaError('SPIFFE_ID_INVALID', `"${shown}" is not a valid SPIFFE ID: ${rule}`, {
    hint: 'a SPIFFE ID looks like spiffe://cluster.local/ns/<namespace>/sa/<service-account>',
  });
}

/** Checks a trust domain name (SPIFFE ID standard §2.1); returns the rule broken, or undefined. */
export function trustDomainProblem(td: string): string | undefined {
  if (td === '') return 'the trust domain is empty';
  if (Buffer.byteLength(td) > MAX_TRUST_DOMAIN_BYTES)
    return `the trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`;
  if (!TRUST_DOMAIN_CHARS.test(td))
    return 'the trust domain may contain only lowercase letters, digits, ".", "-" and "_" (no port, user info or uppercase)';
  return undefined;
}

/** Checks one path segment (SPIFFE ID standard §2.2); returns the rule broken, or undefined. */
export function pathSegmentProblem(segment: string): string | undefined {
  if (segment === '') return 'the path has an empty segment ("//" or a trailing "/")';
  if (segment === '.' || segment === '..') return `the path has a "${segment}" segment, which is not allowed`;
  if (!SEGMENT_CHARS.test(segment))
    return `the path segment "${segment}" may contain only letters, digits, ".", "-" and "_" (no percent-encoding, query or fragment)`;
  return undefined;
}

/** Parses and validates a SPIFFE ID; throws SPIFFE_ID_INVALID naming the rule broken. */
export function parseSpiffeId(uri: string): SpiffeId {
  if (Buffer.byteLength(uri) > MAX_SPIFFE_ID_BYTES)
    throw invalid(uri, `it is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  if (!uri.startsWith(SCHEME)) {
    throw invalid(
      uri,
      uri.toLowerCase().startsWith(SCHEME)
        ? 'the scheme must be lowercase "spiffe"'
        : 'it must start with "spiffe://"',
    );
  }
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) throw invalid(uri, tdProblem);
  if (path !== '') {
    for (const segment of path.slice(1).split('/')) {
      const problem = pathSegmentProblem(segment);
      if (problem !== undefined) throw invalid(uri, problem);
    }
  }
  return { trustDomain, path, toString: () => uri };
}

/** The workload identity Istio uses: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>. */
export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const uri = `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) throw invalid(uri, tdProblem);
  for (const [what, v] of [
    ['namespace', namespace],
    ['service account', serviceAccount],
  ] as const) {
    const problem = pathSegmentProblem(v);
    if (problem !== undefined) throw invalid(uri, `the ${what}: ${problem}`);
  }
  return parseSpiffeId(uri).toString();
}

/** Parses a workload SPIFFE ID, requiring exactly the path /ns/<namespace>/sa/<service-account>. */
export function parseWorkloadSpiffeId(uri: string): {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
} {
  const id = parseSpiffeId(uri);
  const segments = id.path.split('/').slice(1);
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    throw invalid(uri, 'a workload identity must have the path /ns/<namespace>/sa/<service-account>');
  }
  return { trustDomain: id.trustDomain, namespace: segments[1] ?? '', serviceAccount: segments[3] ?? '' };
}
