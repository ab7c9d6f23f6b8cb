import * as z from 'zod';
import {
  checkedString,
  conditionsSchema,
  labelsSchema,
  looseObject,
  objectMetaSchema,
  requiredString,
  secretKeySelectorSchema,
} from './common-schemas.js';
import { checkAbsoluteUri, checkBase64, checkDnsName, checkHttpUrl } from './value-rules.js';

const urls = z.array(checkedString(checkAbsoluteUri));

const selfSignedSchema = z.strictObject({ crlDistributionPoints: urls.optional() });

const caSchema = z.strictObject({
  secretName: requiredString(),
  crlDistributionPoints: urls.optional(),
  ocspServers: urls.optional(),
  issuingCertificateURLs: urls.optional(),
});

const vaultAuthSchema = z.strictObject({
  tokenSecretRef: secretKeySelectorSchema.optional(),
  appRole: z
    .strictObject({ path: requiredString(), roleId: requiredString(), secretRef: secretKeySelectorSchema })
    .optional(),
  kubernetes: z
    .strictObject({
      role: requiredString(),
      mountPath: z.string().optional(),
      secretRef: secretKeySelectorSchema.optional(),
      serviceAccountRef: z
        .strictObject({ name: requiredString(), audiences: z.array(z.string()).optional() })
        .optional(),
    })
    .optional(),
  clientCertificate: z
    .strictObject({
      mountPath: z.string().optional(),
      name: z.string().optional(),
      secretName: z.string().optional(),
    })
    .optional(),
});

const vaultSchema = z.strictObject({
  server: checkedString(checkHttpUrl),
  path: requiredString(),
  namespace: z.string().optional(),
  caBundle: checkedString(checkBase64).optional(),
  caBundleSecretRef: secretKeySelectorSchema.optional(),
  serverName: z.string().optional(),
  clientCertSecretRef: secretKeySelectorSchema.optional(),
  clientKeySecretRef: secretKeySelectorSchema.optional(),
  auth: vaultAuthSchema,
});

const serviceType = z.enum(['ClusterIP', 'NodePort']);

const http01Schema = z.strictObject({
  ingress: z
    .strictObject({
      class: z.string().optional(),
      ingressClassName: z.string().optional(),
      name: z.string().optional(),
      serviceType: serviceType.optional(),
      podTemplate: looseObject().optional(),
      ingressTemplate: looseObject().optional(),
    })
    .optional(),
  gatewayHTTPRoute: z
    .strictObject({
      labels: labelsSchema.optional(),
      serviceType: serviceType.optional(),
      parentRefs: z.array(looseObject()).optional(),
      podTemplate: looseObject().optional(),
    })
    .optional(),
});

const rfc2136Schema = z.strictObject({
  nameserver: requiredString(),
  tsigKeyName: z.string().optional(),
  tsigAlgorithm: z.enum(['HMACMD5', 'HMACSHA1', 'HMACSHA256', 'HMACSHA512']).optional(),
  tsigSecretSecretRef: secretKeySelectorSchema.optional(),
  protocol: z.enum(['TCP', 'UDP']).optional(),
});

/** The DNS-01 providers cert-manager knows; meshca implements rfc2136 and keeps the rest as given. */
export const DNS01_PROVIDERS = [
  'acmeDNS',
  'akamai',
  'azureDNS',
  'cloudDNS',
  'cloudflare',
  'digitalocean',
  'rfc2136',
  'route53',
  'webhook',
] as const;

const dns01Schema = z.strictObject({
  cnameStrategy: z.enum(['None', 'Follow']).optional(),
  rfc2136: rfc2136Schema.optional(),
  acmeDNS: looseObject().optional(),
  akamai: looseObject().optional(),
  azureDNS: looseObject().optional(),
  cloudDNS: looseObject().optional(),
  cloudflare: looseObject().optional(),
  digitalocean: looseObject().optional(),
  route53: looseObject().optional(),
  webhook: looseObject().optional(),
});

/** One ACME challenge solver and the names it serves. */
export const acmeSolverSchema = z.strictObject({
  selector: z
    .strictObject({
      dnsNames: z.array(checkedString(checkDnsName)).optional(),
      dnsZones: z.array(checkedString(checkDnsName)).optional(),
      matchLabels: labelsSchema.optional(),
    })
    .optional(),
  http01: http01Schema.optional(),
  dns01: dns01Schema.optional(),
});

const acmeSchema = z.strictObject({
  server: checkedString(checkHttpUrl),
  email: z.string().optional(),
  privateKeySecretRef: secretKeySelectorSchema,
  skipTLSVerify: z.boolean().optional(),
  caBundle: checkedString(checkBase64).optional(),
  externalAccountBinding: z
    .strictObject({
      keyID: requiredString(),
      keySecretRef: secretKeySelectorSchema,
      keyAlgorithm: z.enum(['HS256', 'HS384', 'HS512']).optional(),
    })
    .optional(),
  preferredChain: z.string().max(64, { message: 'must be at most 64 characters' }).optional(),
  disableAccountKeyGeneration: z.boolean().optional(),
  enableDurationFeature: z.boolean().optional(),
  profile: z.string().optional(),
  solvers: z.array(acmeSolverSchema).optional(),
});

/** The issuer types an Issuer may configure; exactly one is set. */
export const ISSUER_TYPES = ['selfSigned', 'ca', 'vault', 'acme'] as const;

/** cert-manager.io/v1 IssuerSpec (also the ClusterIssuer's). Rules in issuer-rules.ts. */
export const issuerSpecSchema = z.strictObject({
  selfSigned: selfSignedSchema.optional(),
  ca: caSchema.optional(),
  vault: vaultSchema.optional(),
  acme: acmeSchema.optional(),
});

/** cert-manager.io/v1 IssuerStatus. */
export const issuerStatusSchema = z.strictObject({
  conditions: conditionsSchema.optional(),
  acme: z
    .strictObject({
      uri: z.string().optional(),
      lastRegisteredEmail: z.string().optional(),
      lastPrivateKeyHash: z.string().optional(),
    })
    .optional(),
});

const issuerOf = <K extends 'Issuer' | 'ClusterIssuer'>(kind: K) =>
  z.strictObject({
    apiVersion: z.literal('cert-manager.io/v1'),
    kind: z.literal(kind),
    metadata: objectMetaSchema,
    spec: issuerSpecSchema,
    status: issuerStatusSchema.optional(),
  });

/** cert-manager.io/v1 Issuer (namespaced). */
export const issuerSchema = issuerOf('Issuer');
/** cert-manager.io/v1 ClusterIssuer (cluster-scoped; Secrets it names live in meshca's cluster resource namespace). */
export const clusterIssuerSchema = issuerOf('ClusterIssuer');

/** A cert-manager.io/v1 Issuer. */
export type Issuer = z.infer<typeof issuerSchema>;
/** A cert-manager.io/v1 ClusterIssuer. */
export type ClusterIssuer = z.infer<typeof clusterIssuerSchema>;
/** The spec both issuer kinds share. */
export type IssuerSpec = z.infer<typeof issuerSpecSchema>;
/** An ACME solver. */
export type AcmeSolver = z.infer<typeof acmeSolverSchema>;
