/** The Issuer interface and its implementations. */
export type { Issuer, SignRequest, SignResult } from './issuer.js';
export { CaIssuer, type CaKeyPair, type CaIssuerOptions } from './ca/ca-issuer.js';
export { SelfSignedIssuer, type SelfSignedIssuerOptions } from './self-signed/self-signed-issuer.js';
export { createIssuer, secretText, type CreateIssuerOptions, type SecretLookup } from './create-issuer.js';
