/** The PKI core: keys, CSRs, certificates, chains, PEM/DER, SPIFFE IDs, validity maths. Pure: time and randomness are parameters. */
export {
  type KeyAlgorithm,
  type KeySpec,
  PublicKeyInfo,
  describeKey,
  publicKeysEqual,
  readSubjectPublicKeyInfo,
  subjectPublicKeyInfo,
} from './keys/key-spec.js';
export { nativeEcdsaStatus, setNativeEcdsaEnabled } from './native/native-ecdsa.js';
export { generatePrivateKey, generatePrivateKeyAsync } from './keys/generate-private-key.js';
export { parsePrivateKey, encodePrivateKey } from './keys/private-key-pem.js';
export { type DistinguishedName, formatDistinguishedName, isEmptyName } from './names/distinguished-name.js';
export { type SubjectAltNames } from './names/subject-alt-names.js';
export { type OtherName } from './names/other-name.js';
export {
  type KeyUsage,
  type ExtKeyUsage,
  type NameConstraints,
  KEY_USAGES,
} from './extensions/extensions.js';
export { type CertificationRequest, parseCsr, MAX_CSR_BYTES } from './csr/certification-request.js';
export { verifyCsr } from './csr/verify-csr.js';
export { type CsrOptions, buildCsr } from './csr/build-csr.js';
export {
  type Certificate,
  parseCertificate,
  parseCertificates,
  MAX_CERTIFICATE_BYTES,
} from './certificate/certificate.js';
export {
  type CertificateTemplate,
  type Signer,
  type SigningOptions,
  issueCertificate,
} from './certificate/issue-certificate.js';
export { templateFromCsr } from './certificate/template-from-csr.js';
export { buildChain } from './chain/build-chain.js';
export { type ChainVerification, type ChainVerificationOptions, verifyChain } from './chain/verify-chain.js';
export { type SpiffeId, parseSpiffeId, workloadSpiffeId, parseWorkloadSpiffeId } from './spiffe/spiffe-id.js';
export { type PemBlock, pemEncode, pemDecodeAll } from './pem/pem.js';
export { renewalTime } from './validity/renewal-time.js';
export { SIGNATURE_ALGORITHMS } from './signature/signature-algorithm.js';
export {
  type PkiParser,
  ParseCache,
  DEFAULT_PARSE_CACHE_ENTRIES,
  MAX_CACHED_INPUT_CHARS,
} from './parse-cache/parse-cache.js';
export { encodePkcs12, pkcs12Kdf, type Pkcs12Input, type Pkcs12Profile } from './keystore/pkcs12.js';
export { encodeJks, type JksEntry, type JksInput } from './keystore/jks.js';
