import type { Resource, ResourceKey } from '../../api/resource.js';
import type { Store } from '../../store/store.js';
import { requestName, type CertificateObject, type RequestObject } from './certificate-resources.js';
import type { SecretNameIndex } from './lifecycle-options.js';
import { CERTIFICATE_REQUEST, SECRET, keyOf } from './resource-types.js';

/** A Certificate with what its decisions read: its Secret and the request of its current revision. */
export interface CertificateState {
  readonly certificate: CertificateObject;
  readonly secret: Resource | undefined;
  readonly currentRequest: RequestObject | undefined;
}

/**
 * Reads a Certificate, its Secret and its current revision's request; undefined when the
 * Certificate is gone. `secrets` learns the Certificate's secretName before its Secret is read.
 */
export async function loadCertificateState(
  store: Store,
  key: ResourceKey,
  secrets?: SecretNameIndex,
): Promise<CertificateState | undefined> {
  const certificate = await store.tryGet<CertificateObject>(key);
  secrets?.observe(key, certificate);
  if (certificate === undefined) return undefined;
  const ns = certificate.metadata.namespace;
  const revision = certificate.status?.revision;
  const [secret, currentRequest] = await Promise.all([
    store.tryGet<Resource>(keyOf(SECRET, ns, certificate.spec.secretName)),
    revision === undefined
      ? Promise.resolve(undefined)
      : store.tryGet<RequestObject>(keyOf(CERTIFICATE_REQUEST, ns, requestName(certificate.metadata.name, revision))),
  ]);
  return { certificate, secret, currentRequest };
}
