import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import type { Authenticator, CallerIdentity } from './authenticator.js';
import { TOKEN_USE_CLAIM } from './mint-service-account-token.js';
import { serviceAccountFromClaims } from './service-account-identity.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

/** Signature algorithms accepted: what Kubernetes' service-account issuer can sign with. */
export const TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

/** Options of createJwtAuthenticator. */
export interface JwtAuthenticatorOptions {
  /** Verification keys by header (a JwksSource's getKey). */
  readonly getKey: JWTVerifyGetKey;
  /** Accepted `iss` values (the cluster's service-account issuer, meshca's own). */
  readonly issuers: readonly string[];
  /** Accepted audiences; the token must name at least one. Default ['istio-ca']. */
  readonly audiences?: readonly string[];
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Tolerated clock skew for exp and nbf, in seconds. Default 30. */
  readonly leewaySeconds?: number;
  /** How long a verified token is remembered (never past its exp). Default 60 s. */
  readonly cacheTtlMs?: number;
  /** Most tokens remembered. Default 10 000. */
  readonly cacheEntries?: number;
  /** Longest token accepted, in characters. Default 8192. */
  readonly maxTokenLength?: number;
}

const unauthenticated = (message: string, cause?: unknown): MeshcaError =>
  new MeshcaError('UNAUTHENTICATED', message, {
    hint: 'send `authorization: Bearer <token>` with a current service-account token for audience istio-ca',
    cause,
  });

/**
 * Authenticates `authorization: Bearer <JWT>` offline: signature against the JWKS, then issuer,
 * audience, exp and nbf (RFC 7519 §4.1) with the injected clock, then the workload from the
 * token's Kubernetes claims. Verified tokens are cached by hash for a short while.
 */
export function createJwtAuthenticator(options: JwtAuthenticatorOptions): Authenticator {
  const audiences = options.audiences ?? ['istio-ca'];
  const leeway = options.leewaySeconds ?? 30;
  const cacheTtlMs = options.cacheTtlMs ?? 60_000;
  const maxTokenLength = options.maxTokenLength ?? 8192;
  const cache = new VerifiedTokenCache<CallerIdentity>(options.cacheEntries ?? 10_000);

  return async ({ headers }) => {
    const token = bearerToken(headers.authorization, maxTokenLength);
    const key = VerifiedTokenCache.keyOf(token);
    const now = options.clock();
    const cached = cache.get(key, now);
    if (cached !== undefined) return cached;

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, options.getKey, {
        issuer: [...options.issuers],
        audience: [...audiences],
        algorithms: TOKEN_ALGORITHMS,
        currentDate: new Date(now),
        clockTolerance: leeway,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw describeJoseError(err, audiences, options.issuers);
    }
    if (payload[TOKEN_USE_CLAIM] !== undefined) {
      throw unauthenticated(
        `token was minted by meshca for ${JSON.stringify(payload[TOKEN_USE_CLAIM])} (${TOKEN_USE_CLAIM}), not for a workload calling the CA`,
      );
    }
    const ref = serviceAccountFromClaims(payload);
    const identity: CallerIdentity = {
      ...ref,
      method: 'jwt',
      subject:
        typeof payload.sub === 'string'
          ? payload.sub
          : `system:serviceaccount:${ref.namespace}:${ref.serviceAccount}`,
    };
    const expMs = (payload.exp as number) * 1000;
    cache.set(key, identity, Math.min(now + cacheTtlMs, expMs));
    return identity;
  };
}

/** Extracts the token from `Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive). */
function bearerToken(header: string | undefined, maxLength: number): string {
  if (header === undefined || header === '') {
    throw unauthenticated('no authorization header: the call carries no credential');
  }
  const match = /^bearer +(\S+)\s*$/i.exec(header);
  if (match === null) {
    throw unauthenticated(
      `authorization header is not "Bearer <token>" (scheme ${JSON.stringify(header.split(' ')[0]?.slice(0, 20) ?? '')})`,
    );
  }
  const token = match[1]!;
  if (token.length > maxLength)
    throw unauthenticated(`bearer token is ${token.length} characters, over the limit of ${maxLength}`);
  return token;
}

/** Turns jose's errors into a message that says which check failed. */
function describeJoseError(
  err: unknown,
  audiences: readonly string[],
  issuers: readonly string[],
): MeshcaError {
  if (isMeshcaError(err)) return err; // a JWKS that cannot be loaded: UNAVAILABLE, retryable
  if (err instanceof joseErrors.JWTExpired) {
    const exp =
      typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : 'unknown';
    return unauthenticated(`token expired at ${exp}`, err);
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return unauthenticated(
          `token audience ${JSON.stringify(err.payload.aud ?? null)} does not include any of ${audiences.join(', ')}`,
          err,
        );
      case 'iss':
        return unauthenticated(
          `token issuer ${JSON.stringify(err.payload.iss ?? null)} is not a configured issuer (${issuers.join(', ')})`,
          err,
        );
      case 'nbf': {
        const nbf =
          typeof err.payload.nbf === 'number' ? new Date(err.payload.nbf * 1000).toISOString() : 'unknown';
        return unauthenticated(`token is not valid before ${nbf}`, err);
      }
      case 'iat':
        return unauthenticated('token was issued in the future', err);
      case 'exp':
        return unauthenticated('token has no valid exp claim', err);
      default:
        return unauthenticated(`token claim ${err.claim} is invalid: ${err.reason}`, err);
    }
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return unauthenticated('token signature does not verify against the issuer keys', err);
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return unauthenticated(
      'no issuer key matches the token (kid and alg): it was signed by an unknown key',
      err,
    );
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return unauthenticated('several issuer keys match the token: give each JWKS key a distinct kid', err);
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return unauthenticated(`token algorithm is not accepted: use one of ${TOKEN_ALGORITHMS.join(', ')}`, err);
  if (err instanceof joseErrors.JOSEError) return unauthenticated(`malformed token: ${err.message}`, err);
  return unauthenticated('token could not be verified', err);
}
