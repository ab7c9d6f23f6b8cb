import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../pki/index.js';

/** A public key that signs JWT-SVIDs (meshca's token-signing keys), published with its key ID. */
export interface JwtSigningKey {
  readonly kid: string;
  /** The public key; a private key given here is reduced to its public half before publishing. */
  readonly key: KeyObject;
}

/** The trust bundle as the bundle endpoints serve it, from the provider that owns it. */
export interface TrustBundleSnapshot {
  /** The root CA certificates every workload trusts (two during a root rotation). */
  readonly roots: readonly Certificate[];
  /** SPIFFE `spiffe_sequence`: a non-negative integer that grows whenever the bundle changes. */
  readonly sequence: number;
  /** SPIFFE `spiffe_refresh_hint`: how often, in seconds, a consumer should fetch again. */
  readonly refreshHintSeconds: number;
  /** Token-signing public keys published as `jwt-svid` entries. */
  readonly jwtKeys?: readonly JwtSigningKey[];
}
