/** The Issuer interface and its implementations. */
export type { Issuer, SignRequest, SignResult } from './issuer.js';
export { CaIssuer, type CaKeyPair, type CaIssuerOptions } from './ca/ca-issuer.js';
export { SelfSignedIssuer, type SelfSignedIssuerOptions } from './self-signed/self-signed-issuer.js';
export {
  createIssuer,
  secretText,
  type CreateIssuerOptions,
  type IssuerDependencies,
  type SecretLookup,
  type ServiceAccountTokenMinter,
} from './create-issuer.js';
export { UpstreamTokenCache, type UpstreamToken } from './upstream-token-cache.js';
