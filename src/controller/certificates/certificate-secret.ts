import type { KeyObject } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { TLS_SECRET_TYPE } from '../../api/secret.js';
import { encodePrivateKey, pemDecodeAll, type Certificate } from '../../pki/index.js';
import { issuerRefOf, type CertificateObject } from './certificate-resources.js';
import { KEYSTORE_KEYS, wantsKeystore, type KeystoreFormat } from './keystores.js';
import { ANNOTATIONS } from './resource-types.js';

/** Data keys the issuing controller owns beyond tls.crt, tls.key and ca.crt; dropped when no longer asked for. */
export const OPTIONAL_SECRET_KEYS = [
  'tls-combined.pem',
  'key.der',
  'ca-cert.pem',
  'ca-key.pem',
  'cert-chain.pem',
  'root-cert.pem',
] as const;

/** What goes into a Certificate's Secret. */
export interface CertificateSecretInput {
  /** The Certificate: name, namespace, spec (secretName, secretTemplate, additionalOutputFormats, issuerRef, privateKey.encoding), annotations. */
  readonly certificate: Pick<CertificateObject, 'metadata' | 'spec'>;
  readonly leaf: Certificate;
  /** Intermediates after the leaf, nearest first; a self-signed root here is left out of tls.crt. */
  readonly chain: readonly Certificate[];
  /** The root(s): `ca.crt`. */
  readonly ca: readonly Certificate[];
  readonly key: KeyObject;
  /** The Secret as it is now, if any: its other labels, annotations and data keys are kept. */
  readonly existing?: Resource | undefined;
  /**
   * Keystore files made for this certificate (`keystore.p12`, `keystore.jks` …), replacing those
   * of their format in `existing`. Others are kept while the spec asks for them, dropped when it no longer does.
   */
  readonly keystores?: Readonly<Record<string, Buffer>> | undefined;
}

const b64 = (v: string | Buffer): string =>
  (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

/**
 * The Secret of an issued certificate, as cert-manager writes it: `kubernetes.io/tls` with
 * `tls.crt` (leaf + intermediates), `tls.key`, `ca.crt`; `tls-combined.pem` and `key.der` for
 * additionalOutputFormats CombinedPEM and DER; the istiod plug-in layout (`ca-cert.pem`,
 * `ca-key.pem`, `cert-chain.pem`, `root-cert.pem`) when the Certificate has the annotation
 * `meshca.io/istiod-cacerts: "true"`; the keystores given (`keystore.p12`, `keystore.jks` …);
 * cert-manager's annotations and the secretTemplate.
 */
export function buildCertificateSecret(input: CertificateSecretInput): Resource {
  const { certificate, leaf, key, existing } = input;
  const spec = certificate.spec;
  const intermediates = input.chain.filter((c) => !c.selfSigned);
  const tlsCrt = [leaf, ...intermediates].map((c) => c.pem).join('');
  const keyPem = encodePrivateKey(key, spec.privateKey?.encoding ?? 'PKCS1');
  const caPem = input.ca.map((c) => c.pem).join('');

  const existingData = (existing?.['data'] ?? {}) as Record<string, string>;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(existingData)) {
    if (!(OPTIONAL_SECRET_KEYS as readonly string[]).includes(k)) data[k] = v;
  }
  data['tls.crt'] = b64(tlsCrt);
  data['tls.key'] = b64(keyPem);
  if (caPem !== '') data['ca.crt'] = b64(caPem);
  else delete data['ca.crt'];
  // A format no longer asked for loses its files; new files of a format replace all its old ones.
  for (const format of ['pkcs12', 'jks'] as KeystoreFormat[]) {
    const keys = KEYSTORE_KEYS[format];
    const replaced = keys.some((k) => input.keystores?.[k] !== undefined);
    if (replaced || !wantsKeystore(certificate, format)) for (const k of keys) delete data[k];
  }
  for (const [k, v] of Object.entries(input.keystores ?? {})) data[k] = b64(v);
  for (const format of spec.additionalOutputFormats ?? []) {
    // cert-manager: CombinedPEM is the key then the certificate chain; DER is the key alone.
    if (format.type === 'CombinedPEM')
      data['tls-combined.pem'] = b64(`${keyPem.endsWith('\n') ? keyPem : `${keyPem}\n`}${tlsCrt}`);
    if (format.type === 'DER') data['key.der'] = b64(pemDecodeAll(keyPem)[0]?.der ?? Buffer.alloc(0));
  }
  if (certificate.metadata.annotations?.[ANNOTATIONS.istiodCacerts] === 'true') {
    data['ca-cert.pem'] = b64(leaf.pem);
    data['ca-key.pem'] = b64(keyPem);
    // istiod's cert-chain.pem: the CA certificate, its chain, and the root last.
    const roots = input.ca.filter(
      (r) => !intermediates.some((c) => c.fingerprintSha256 === r.fingerprintSha256),
    );
    const chainPem = [leaf, ...intermediates].map((c) => c.pem).join('') + (roots[0]?.pem ?? '');
    data['cert-chain.pem'] = b64(chainPem);
    data['root-cert.pem'] = b64(caPem);
  }

  const ref = issuerRefOf(spec);
  const annotations: Record<string, string> = {
    ...existing?.metadata.annotations,
    ...spec.secretTemplate?.annotations,
    [ANNOTATIONS.certificateName]: certificate.metadata.name,
    [ANNOTATIONS.issuerName]: ref.name,
    [ANNOTATIONS.issuerKind]: ref.kind,
    [ANNOTATIONS.issuerGroup]: ref.group,
    [ANNOTATIONS.commonName]: leaf.subject.commonName ?? '',
    [ANNOTATIONS.altNames]: leaf.sans.dnsNames.join(','),
    [ANNOTATIONS.ipSans]: leaf.sans.ipAddresses.join(','),
    [ANNOTATIONS.uriSans]: leaf.sans.uris.join(','),
    [ANNOTATIONS.emailSans]: leaf.sans.emailAddresses.join(','),
  };
  const labels: Record<string, string> = { ...existing?.metadata.labels, ...spec.secretTemplate?.labels };
  const secret: Resource = {
    ...(existing ?? {}),
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: spec.secretName,
      namespace: certificate.metadata.namespace ?? 'default',
      annotations,
      ...(Object.keys(labels).length > 0 && { labels }),
    },
    type: TLS_SECRET_TYPE,
    data,
  };
  return secret;
}

/**
 * The Secret with its metadata and optional keys brought up to date from its own tls.crt,
 * tls.key and ca.crt (a changed secretTemplate, additionalOutputFormats or istiod annotation
 * need no new certificate); undefined when nothing would change.
 */
export function refreshCertificateSecret(
  input: CertificateSecretInput & { readonly existing: Resource },
): Resource | undefined {
  const next = buildCertificateSecret(input);
  const before = input.existing;
  const same =
    JSON.stringify(sorted(before['data'])) === JSON.stringify(sorted(next['data'])) &&
    JSON.stringify(sorted(before.metadata.annotations)) ===
      JSON.stringify(sorted(next.metadata.annotations)) &&
    JSON.stringify(sorted(before.metadata.labels)) === JSON.stringify(sorted(next.metadata.labels)) &&
    before['type'] === next['type'];
  return same ? undefined : next;
}

function sorted(value: unknown): unknown {
  if (value === undefined || value === null || typeof value !== 'object') return value ?? {};
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
  );
}
