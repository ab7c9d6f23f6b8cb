import * as z from 'zod';
import {
  checkedString,
  conditionsSchema,
  goDurationString,
  issuerRefSchema,
  labelsSchema,
  annotationsSchema,
  objectMetaSchema,
  requiredString,
} from './common-schemas.js';
import { KEY_USAGES } from './key-usage.js';
import {
  checkAbsoluteUri,
  checkCertificateDnsName,
  checkCidr,
  checkDataKey,
  checkDns1123Subdomain,
  checkDnsName,
  checkEmailAddress,
  checkIpAddress,
  checkOid,
} from './value-rules.js';

const strings = z.array(z.string());

const subjectSchema = z.strictObject({
  organizations: strings.optional(),
  countries: strings.optional(),
  organizationalUnits: strings.optional(),
  localities: strings.optional(),
  provinces: strings.optional(),
  streetAddresses: strings.optional(),
  postalCodes: strings.optional(),
  serialNumber: z.string().optional(),
});

const nameConstraintItemSchema = z.strictObject({
  dnsDomains: z.array(checkedString(checkDnsName)).optional(),
  ipRanges: z.array(checkedString(checkCidr)).optional(),
  emailAddresses: strings.optional(),
  uriDomains: strings.optional(),
});

/**
 * A keystore's passwordSecretRef. Go clients write the struct even when it is unused, as
 * `{name: ""}`; like cert-manager, an empty name means "not set" (the keystore rules then look at
 * `password`), and the keystore schemas drop such a reference.
 */
const passwordSecretRefSchema = z
  .strictObject({ name: z.string(), key: z.string().optional() })
  .superRefine((ref, ctx) => {
    if (ref.name === '') return;
    const nameWhy = checkDns1123Subdomain(ref.name);
    if (nameWhy !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: nameWhy });
    const keyWhy = ref.key === undefined ? undefined : checkDataKey(ref.key);
    if (keyWhy !== undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: keyWhy });
  });

/** Drops a passwordSecretRef whose name is empty: cert-manager treats it as unset. */
const withoutEmptyRef = <T extends { passwordSecretRef?: { name: string; key?: string | undefined } }>(
  store: T,
): T => {
  if (store.passwordSecretRef?.name !== '') return store;
  const { passwordSecretRef: _unset, ...rest } = store;
  return rest as T;
};

const jksKeystoreSchema = z
  .strictObject({
    create: z.boolean(),
    passwordSecretRef: passwordSecretRefSchema.optional(),
    password: z.string().optional(),
    alias: z.string().optional(),
  })
  .transform(withoutEmptyRef);

const pkcs12KeystoreSchema = z
  .strictObject({
    create: z.boolean(),
    passwordSecretRef: passwordSecretRefSchema.optional(),
    password: z.string().optional(),
    profile: z.enum(['LegacyRC2', 'LegacyDES', 'Modern2023']).optional(),
  })
  .transform(withoutEmptyRef);

/** Key usages as cert-manager spells them. */
export const keyUsageSchema = z.enum(KEY_USAGES);

/**
 * The private key to generate: algorithm, size, encoding, rotation. Like cert-manager, `size: 0`
 * means the algorithm's default and an Ed25519 key ignores any size: both sizes are dropped, so
 * the stored spec asks for the key the controllers make.
 */
export const privateKeySchema = z
  .strictObject({
    algorithm: z.enum(['RSA', 'ECDSA', 'Ed25519']).optional(),
    size: z.number().int().optional(),
    encoding: z.enum(['PKCS1', 'PKCS8']).optional(),
    rotationPolicy: z.enum(['Never', 'Always']).optional(),
  })
  .transform((key): typeof key => {
    if (key.size === undefined || (key.size !== 0 && key.algorithm !== 'Ed25519')) return key;
    const { size: _ignored, ...rest } = key;
    return rest;
  });

/** cert-manager.io/v1 CertificateSpec, every field. Cross-field rules live in certificate-rules.ts. */
export const certificateSpecSchema = z.strictObject({
  subject: subjectSchema.optional(),
  literalSubject: requiredString().optional(),
  commonName: z
    .string()
    .max(64, { message: 'must be at most 64 characters (RFC 5280 ub-common-name)' })
    .optional(),
  duration: goDurationString.optional(),
  renewBefore: goDurationString.optional(),
  renewBeforePercentage: z.number().int().optional(),
  dnsNames: z.array(checkedString(checkCertificateDnsName)).optional(),
  ipAddresses: z.array(checkedString(checkIpAddress)).optional(),
  uris: z.array(checkedString(checkAbsoluteUri)).optional(),
  emailAddresses: z.array(checkedString(checkEmailAddress)).optional(),
  otherNames: z.array(z.strictObject({ oid: checkedString(checkOid), utf8Value: z.string() })).optional(),
  secretName: checkedString(checkDns1123Subdomain),
  secretTemplate: z
    .strictObject({ annotations: annotationsSchema.optional(), labels: labelsSchema.optional() })
    .optional(),
  keystores: z
    .strictObject({ jks: jksKeystoreSchema.optional(), pkcs12: pkcs12KeystoreSchema.optional() })
    .optional(),
  issuerRef: issuerRefSchema,
  isCA: z.boolean().optional(),
  usages: z.array(keyUsageSchema).optional(),
  privateKey: privateKeySchema.optional(),
  signatureAlgorithm: z
    .enum([
      'SHA256WithRSA',
      'SHA384WithRSA',
      'SHA512WithRSA',
      'ECDSAWithSHA256',
      'ECDSAWithSHA384',
      'ECDSAWithSHA512',
      'PureEd25519',
    ])
    .optional(),
  revisionHistoryLimit: z.number().int().min(1, { message: 'must be at least 1' }).optional(),
  additionalOutputFormats: z.array(z.strictObject({ type: z.enum(['CombinedPEM', 'DER']) })).optional(),
  nameConstraints: z
    .strictObject({
      critical: z.boolean().optional(),
      permitted: nameConstraintItemSchema.optional(),
      excluded: nameConstraintItemSchema.optional(),
    })
    .optional(),
  encodeUsagesInRequest: z.boolean().optional(),
});

/** cert-manager.io/v1 CertificateStatus. */
export const certificateStatusSchema = z.strictObject({
  conditions: conditionsSchema.optional(),
  lastFailureTime: z.string().optional(),
  notBefore: z.string().optional(),
  notAfter: z.string().optional(),
  renewalTime: z.string().optional(),
  revision: z.number().int().min(1).optional(),
  nextPrivateKeySecretName: checkedString(checkDns1123Subdomain).optional(),
  failedIssuanceAttempts: z.number().int().min(0).optional(),
});

/** cert-manager.io/v1 Certificate. */
export const certificateSchema = z.strictObject({
  apiVersion: z.literal('cert-manager.io/v1'),
  kind: z.literal('Certificate'),
  metadata: objectMetaSchema,
  spec: certificateSpecSchema,
  status: certificateStatusSchema.optional(),
});

/** A cert-manager.io/v1 Certificate, after validation and defaults. */
export type Certificate = z.infer<typeof certificateSchema>;
/** The spec of a Certificate. */
export type CertificateSpec = Certificate['spec'];
/** The status of a Certificate. */
export type CertificateStatus = NonNullable<Certificate['status']>;
