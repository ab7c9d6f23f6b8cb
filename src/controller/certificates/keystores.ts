import type { KeyObject } from 'node:crypto';
import type { Resource } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { MeshcaError } from '../../errors/index.js';
import { encodePkcs12, type Certificate } from '../../pki/index.js';
import type { Store } from '../../store/store.js';
import type { CertificateObject } from './certificate-resources.js';
import { SECRET, keyOf } from './resource-types.js';

/** Secret data keys of the PKCS#12 keystores, as cert-manager names them. */
export const PKCS12_KEYS = ['keystore.p12', 'truststore.p12'] as const;

/** The password Secret's key read when passwordSecretRef names none, as in cert-manager's examples. */
export const DEFAULT_PASSWORD_KEY = 'password';

/** What goes into the keystores: the leaf, its intermediates, the roots and the key. */
export interface KeystoreMaterial {
  readonly leaf: Certificate;
  readonly chain: readonly Certificate[];
  readonly ca: readonly Certificate[];
  readonly key: KeyObject;
}

/** True when the Certificate asks for PKCS#12 keystores (spec.keystores.pkcs12.create). */
export function wantsPkcs12(certificate: Pick<CertificateObject, 'spec'>): boolean {
  return certificate.spec.keystores?.pkcs12?.create === true;
}

/**
 * The PKCS#12 password: spec.keystores.pkcs12.password, or the key of the Secret its
 * passwordSecretRef names in the Certificate's namespace. Throws NOT_FOUND, retryable,
 * saying which Secret or key to create.
 */
export async function pkcs12Password(store: Store, certificate: CertificateObject): Promise<string> {
  const spec = certificate.spec.keystores?.pkcs12;
  if (spec?.password !== undefined) return spec.password;
  const ref = spec?.passwordSecretRef;
  if (ref === undefined) {
    throw new MeshcaError(
      'INVALID_RESOURCE',
      'spec.keystores.pkcs12 has neither password nor passwordSecretRef',
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
      `the PKCS#12 keystore password Secret "${ns}/${ref.name}" does not exist`,
      { hint: `create it with the key "${dataKey}" holding the password`, retryable: true },
    );
  }
  const bytes = secretData(secret, dataKey);
  if (bytes === undefined) {
    throw new MeshcaError(
      'NOT_FOUND',
      `the PKCS#12 keystore password Secret "${ns}/${ref.name}" has no key "${dataKey}"`,
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
      `the PKCS#12 keystore password in Secret "${ns}/${ref.name}" key "${dataKey}" is empty`,
      { hint: 'put a non-empty password there', retryable: true },
    );
  }
  return bytes.toString('utf8');
}

/**
 * cert-manager's PKCS#12 outputs: `keystore.p12` (key, leaf and intermediates) and, when there is
 * a CA, `truststore.p12` (the roots), both with the one password and the spec's profile.
 */
export function pkcs12Keystores(
  certificate: Pick<CertificateObject, 'spec'>,
  password: string,
  material: KeystoreMaterial,
): Record<string, Buffer> {
  const profile = certificate.spec.keystores?.pkcs12?.profile ?? 'LegacyRC2';
  const intermediates = material.chain.filter((c) => !c.selfSigned);
  const out: Record<string, Buffer> = {
    'keystore.p12': encodePkcs12({
      key: material.key,
      certificates: [material.leaf, ...intermediates],
      password,
      profile,
    }),
  };
  if (material.ca.length > 0)
    out['truststore.p12'] = encodePkcs12({ certificates: material.ca, password, profile });
  return out;
}
