import type { KeyObject } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { MeshcaError } from '../../errors/index.js';
import { encodeJks, encodePkcs12, type Certificate, type JksEntry } from '../../pki/index.js';
import type { Store } from '../../store/store.js';
import type { CertificateObject } from './certificate-resources.js';
import { SECRET, keyOf } from './resource-types.js';

/** Secret data keys of the PKCS#12 keystores, as cert-manager names them. */
export const PKCS12_KEYS = ['keystore.p12', 'truststore.p12'] as const;

/** Secret data keys of the JKS keystores, as cert-manager names them. */
export const JKS_KEYS = ['keystore.jks', 'truststore.jks'] as const;

/** cert-manager's alias of the key entry in keystore.jks when spec.keystores.jks.alias is unset. */
export const DEFAULT_JKS_ALIAS = 'certificate';

/** The keystore formats of cert-manager's spec.keystores. */
export type KeystoreFormat = 'pkcs12' | 'jks';

/** The Secret data keys of each format. */
export const KEYSTORE_KEYS: Readonly<Record<KeystoreFormat, readonly string[]>> = {
  pkcs12: PKCS12_KEYS,
  jks: JKS_KEYS,
};

/** True when the Certificate asks for keystores of `format` (spec.keystores.<format>.create). */
export function wantsKeystore(certificate: Pick<CertificateObject, 'spec'>, format: KeystoreFormat): boolean {
  return certificate.spec.keystores?.[format]?.create === true;
}

/** The password Secret's key read when passwordSecretRef names none, as in cert-manager's examples. */
export const DEFAULT_PASSWORD_KEY = 'password';

/** What goes into the keystores: the leaf, its intermediates, the roots and the key. */
export interface KeystoreMaterial {
  readonly leaf: Certificate;
  readonly chain: readonly Certificate[];
  readonly ca: readonly Certificate[];
  readonly key: KeyObject;
}

/**
 * A keystore's password: spec.keystores.<format>.password, or the key of the Secret its
 * passwordSecretRef names in the Certificate's namespace. Throws NOT_FOUND, retryable,
 * saying which Secret or key to create.
 */
export async function keystorePassword(
  store: Store,
  certificate: CertificateObject,
  format: KeystoreFormat = 'pkcs12',
): Promise<string> {
  const spec = certificate.spec.keystores?.[format];
  const label = format === 'pkcs12' ? 'PKCS#12' : 'JKS';
  if (spec?.password !== undefined) return spec.password;
  const ref = spec?.passwordSecretRef;
  if (ref === undefined) {
    throw new MeshcaError(
      'INVALID_RESOURCE',
      `spec.keystores.${format} has neither password nor passwordSecretRef`,
      {
        hint: 'set passwordSecretRef to a Secret holding the keystore password',
      },
    );
  }
  const ns = certificate.metadata.namespace ?? 'default';
  const dataKey = ref.key ?? DEFAULT_PASSWORD_KEY;
  const secret = await store.tryGet<Resource>(keyOf(SECRET, ns, ref.name));
  if (secret === undefined) {
    throw new MeshcaError(
      'NOT_FOUND',
      `the ${label} keystore password Secret "${ns}/${ref.name}" does not exist`,
      { hint: `create it with the key "${dataKey}" holding the password`, retryable: true },
    );
  }
  const bytes = secretData(secret, dataKey);
  if (bytes === undefined) {
    throw new MeshcaError(
      'NOT_FOUND',
      `the ${label} keystore password Secret "${ns}/${ref.name}" has no key "${dataKey}"`,
      {
        hint: `add the key "${dataKey}" holding the password, or name the right key in passwordSecretRef.key`,
        retryable: true,
      },
    );
  }
  // cert-manager: the password must have a non-zero length.
  if (bytes.length === 0) {
    throw new MeshcaError(
      'NOT_FOUND',
      `the ${label} keystore password in Secret "${ns}/${ref.name}" key "${dataKey}" is empty`,
      { hint: 'put a non-empty password there', retryable: true },
    );
  }
  return bytes.toString('utf8');
}

/**
 * The certificates of `keystore.p12`: the leaf first, then its intermediates, then the CA
 * certificates of `ca.crt`, as cert-manager's encodePKCS12Keystore does (`cas =
 * append(certs[1:], cas...)`), so a Java or OpenSSL client finds the whole chain up to the root.
 * A certificate already there (an issuer that also returns its CA in the chain) is not repeated.
 */
export function pkcs12KeystoreCertificates(material: KeystoreMaterial): Certificate[] {
  const out: Certificate[] = [];
  for (const c of [material.leaf, ...material.chain.filter((c) => !c.selfSigned), ...material.ca]) {
    if (!out.some((o) => o.der.equals(c.der))) out.push(c);
  }
  return out;
}

/**
 * cert-manager's JKS alias of the i-th CA certificate (0-based) in `truststore.jks` and among the
 * trusted entries of `keystore.jks`: "ca" for the first, then "ca-1", "ca-2" … (its
 * addCAsToJKSStore: `fmt.Sprintf("ca-%d", i)`, "ca" when i is 0).
 */
export function jksCaAlias(index: number): string {
  return index === 0 ? 'ca' : `ca-${index}`;
}

/**
 * cert-manager's PKCS#12 outputs: `keystore.p12` (key, leaf, intermediates and the CA
 * certificates) and, when there is a CA, `truststore.p12` (the CA certificates), both with the one
 * password and the spec's profile.
 */
export function pkcs12Keystores(
  certificate: Pick<CertificateObject, 'spec'>,
  password: string,
  material: KeystoreMaterial,
): Record<string, Buffer> {
  const profile = certificate.spec.keystores?.pkcs12?.profile ?? 'LegacyRC2';
  const out: Record<string, Buffer> = {
    'keystore.p12': encodePkcs12({
      key: material.key,
      certificates: pkcs12KeystoreCertificates(material),
      password,
      profile,
    }),
  };
  if (material.ca.length > 0)
    out['truststore.p12'] = encodePkcs12({ certificates: material.ca, password, profile });
  return out;
}

/**
 * cert-manager's JKS outputs: `keystore.jks` (the key entry, alias spec.keystores.jks.alias or
 * "certificate", with the leaf and intermediates; plus the CA certificates as trusted entries
 * "ca", "ca-1", "ca-2" …) and, when there is a CA, `truststore.jks` (the same trusted entries).
 */
export function jksKeystores(
  certificate: Pick<CertificateObject, 'spec'>,
  password: string,
  material: KeystoreMaterial,
  now: Date,
): Record<string, Buffer> {
  const alias = certificate.spec.keystores?.jks?.alias ?? DEFAULT_JKS_ALIAS;
  const intermediates = material.chain.filter((c) => !c.selfSigned);
  const trusted: JksEntry[] = material.ca.map((c, i) => ({ alias: jksCaAlias(i), trusted: c }));
  const out: Record<string, Buffer> = {
    'keystore.jks': encodeJks({
      entries: [{ alias, key: material.key, chain: [material.leaf, ...intermediates] }, ...trusted],
      password,
      now,
    }),
  };
  if (trusted.length > 0) out['truststore.jks'] = encodeJks({ entries: trusted, password, now });
  return out;
}

/**
 * Every keystore the spec asks for, with passwords read from the store. `only` limits the
 * formats (the refresh path builds only those missing). Throws what keystorePassword throws.
 */
export async function buildKeystores(
  store: Store,
  certificate: CertificateObject,
  material: KeystoreMaterial,
  now: Date,
  only: readonly KeystoreFormat[] = ['pkcs12', 'jks'],
): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  if (only.includes('pkcs12') && wantsKeystore(certificate, 'pkcs12'))
    Object.assign(
      out,
      pkcs12Keystores(certificate, await keystorePassword(store, certificate, 'pkcs12'), material),
    );
  if (only.includes('jks') && wantsKeystore(certificate, 'jks'))
    Object.assign(
      out,
      jksKeystores(certificate, await keystorePassword(store, certificate, 'jks'), material, now),
    );
  return out;
}
