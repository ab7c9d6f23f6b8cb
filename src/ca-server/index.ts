/** The Istio CA API server: gRPC transport, protobuf codec, authentication, rate limiting, handler. */
export {
  createGrpcServer,
  DEFAULT_GRPC_LIMITS,
  type GrpcLimits,
  type GrpcServer,
  type GrpcServerOptions,
  type UnaryCall,
  type UnaryHandler,
  type GrpcPeer,
} from './grpc/grpc-server.js';
export { GrpcStatus, grpcFailureOf, type GrpcStatusCode } from './grpc/grpc-status.js';
export {
  decodeIstioCertificateRequest,
  encodeIstioCertificateRequest,
  type IstioCertificateRequest,
} from './proto/istio-certificate-request.js';
export {
  decodeIstioCertificateResponse,
  encodeIstioCertificateResponse,
} from './proto/istio-certificate-response.js';
export type { JsonObject, JsonValue } from './proto/struct-codec.js';
export {
  IDENTITY_EXTRACTION_FAILED,
  type Authenticator,
  type AuthenticationInput,
  type CallerIdentity,
} from './auth/authenticator.js';
export {
  createJwksSource,
  type JwksSource,
  type JwksSourceOptions,
  type JwksLocation,
} from './auth/jwks-source.js';
export {
  createJwtAuthenticator,
  TOKEN_ALGORITHMS,
  type JwtAuthenticatorOptions,
} from './auth/jwt-authenticator.js';
export {
  createClientCertificateAuthenticator,
  type ClientCertificateAuthenticatorOptions,
} from './auth/client-certificate-authenticator.js';
export { createCallerAuthenticator, type CallerAuthenticatorOptions } from './auth/caller-authenticator.js';
export {
  ISSUER_LOGIN_TOKEN_USE,
  mintServiceAccountToken,
  TOKEN_USE_CLAIM,
  algorithmForKey,
  type MintServiceAccountTokenOptions,
} from './auth/mint-service-account-token.js';
export { tokenJwks, type TokenSigningKey } from './auth/token-jwks.js';
export { serviceAccountFromClaims, type ServiceAccountRef } from './auth/service-account-identity.js';
export {
  TokenBucketLimiter,
  type TokenBucketOptions,
  type TakeResult,
} from './rate-limit/token-bucket-limiter.js';
export {
  createIstioCertificateService,
  CREATE_CERTIFICATE_PATH,
  type IstioCertificateService,
  type IstioCertificateServiceOptions,
  type SignRequest,
  type Signer,
  type CaServerEvent,
} from './istio-certificate-service.js';
