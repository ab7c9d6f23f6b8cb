import { createHash, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { MeshcaError } from '../../errors/index.js';
import { validServiceAccountRef } from './service-account-identity.js';

/** Options of mintServiceAccountToken. */
export interface MintServiceAccountTokenOptions {
  /** The issuer's private signing key (EC P-256/P-384, RSA ≥ 2048, or Ed25519). */
  readonly key: KeyObject;
  /** Key ID, as published in the issuer's JWKS. */
  readonly kid: string;
  /** `iss`. */
  readonly issuer: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The service account's UID; default a stable name-based UUID of issuer, namespace and name. */
  readonly uid?: string;
  /** `aud`. Default ['istio-ca']. */
  readonly audience?: readonly string[];
  /** Lifetime in milliseconds (at least one second). */
  readonly ttlMs: number;
  /** Issue time, milliseconds since the epoch. */
  readonly now: number;
  /**
   * What the token is for when it is not a workload's credential: written as the
   * `meshca.io/token-use` claim, which meshca's CA server refuses (see TOKEN_USE_CLAIM).
   */
  readonly tokenUse?: string;
}

/**
 * The claim that marks a token meshca minted for something other than a workload calling the CA,
 * such as an Issuer's login to Vault. The Issuer's author chooses that token's extra audiences and
 * where it is sent, so without the mark a token with audience `istio-ca` for any service account
 * of the Issuer's namespace would be a CA credential in their hands. The CA server refuses every
 * token that carries the claim.
 */
export const TOKEN_USE_CLAIM = 'meshca.io/token-use';

/** The tokenUse of the tokens meshca mints for issuers' logins to an upstream (Vault's kubernetes auth). */
export const ISSUER_LOGIN_TOKEN_USE = 'issuer-login';

/** The JWS algorithm a private or public key signs with. */
export function algorithmForKey(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      if (curve === 'secp521r1') return 'ES512';
      throw new MeshcaError(
        'KEY_UNSUPPORTED',
        `EC curve ${curve ?? 'unknown'} cannot sign tokens: use P-256 or P-384`,
      );
    }
    case 'rsa':
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
        throw new MeshcaError('KEY_UNSUPPORTED', 'RSA key is shorter than 2048 bits: use at least 2048');
      }
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new MeshcaError(
        'KEY_UNSUPPORTED',
        `key type ${key.asymmetricKeyType ?? key.type} cannot sign tokens: use EC P-256, RSA or Ed25519`,
      );
  }
}

/** A name-based UUID (RFC 9562 §5.5 layout, SHA-1), so one service account always gets one UID. */
function nameUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Mints a JWT shaped like a Kubernetes projected service-account token (iss, sub, aud, exp, iat,
 * nbf, kubernetes.io{namespace, serviceaccount{name, uid}}), for workloads outside Kubernetes.
 * meshca's JWT authenticator accepts it when `tokenJwks` of the same key is a trusted JWKS.
 */
export async function mintServiceAccountToken(options: MintServiceAccountTokenOptions): Promise<string> {
  if (options.key.type !== 'private')
    throw new MeshcaError('KEY_INVALID', 'token signing needs a private key, got a public one');
  const problem = validServiceAccountRef(options.namespace, options.serviceAccount);
  if (problem !== undefined) throw new MeshcaError('INVALID_INPUT', `cannot mint a token: ${problem}`);
  if (!Number.isFinite(options.ttlMs) || options.ttlMs < 1000) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `token lifetime ${options.ttlMs} ms is too short: give at least 1000 ms`,
    );
  }
  const audience = [...(options.audience ?? ['istio-ca'])];
  if (audience.length === 0)
    throw new MeshcaError('INVALID_INPUT', 'cannot mint a token with no audience: give at least one');
  const iat = Math.floor(options.now / 1000);
  const uid = options.uid ?? nameUuid(`${options.issuer}\n${options.namespace}\n${options.serviceAccount}`);
  return new SignJWT({
    'kubernetes.io': { namespace: options.namespace, serviceaccount: { name: options.serviceAccount, uid } },
    ...(options.tokenUse !== undefined && { [TOKEN_USE_CLAIM]: options.tokenUse }),
  })
    .setProtectedHeader({ alg: algorithmForKey(options.key), kid: options.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setSubject(`system:serviceaccount:${options.namespace}:${options.serviceAccount}`)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + Math.floor(options.ttlMs / 1000))
    .sign(options.key);
}
