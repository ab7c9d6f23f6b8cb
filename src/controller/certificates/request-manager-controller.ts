import type { Resource, ResourceKey } from '../../api/resource.js';
import { controlledBy } from '../owner-reference.js';
import { secretData } from '../../api/secret-data.js';
import { isMeshcaError } from '../../errors/index.js';
import { buildCsr } from '../../pki/index.js';
import type { WriteOp } from '../../store/store.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import {
  failedAttempts,
  isOfCurrentAttempt,
  isTrue,
  issuerRefOf,
  nextRevision,
  requestName,
  type CertificateObject,
  type RequestObject,
} from './certificate-resources.js';
import { desiredCertificate } from './desired-certificate.js';
import { ownerCertificateKeysOf, type LifecycleSettings } from './lifecycle-options.js';
import { ANNOTATIONS, CERTIFICATE, CERTIFICATE_REQUEST, SECRET, keyOf } from './resource-types.js';
import { requestMismatch } from './spec-match.js';
import { DEFAULT_USAGES } from './usages.js';

/**
 * Why an existing CertificateRequest of the next revision must be replaced: it does not match
 * the spec or the key, or it is the request of an earlier attempt, whatever its outcome (the
 * issuing controller ignores those, see isOfCurrentAttempt: an issued one whose Secret could not
 * be written, kept, would block the issuance for good). Undefined = keep it.
 */
export function staleRequestReason(
  certificate: CertificateObject,
  request: RequestObject,
  why: string | undefined,
): string | undefined {
  if (why !== undefined) return why;
  if (!isOfCurrentAttempt(certificate, request)) return 'it is the request of an earlier attempt';
  return undefined;
}

/**
 * The request manager (cert-manager's requestmanager controller): while a Certificate is Issuing
 * and its next key exists, keeps exactly one CertificateRequest for the next revision, named
 * `<certificate>-<revision>` (the fixed name is what keeps it to one, even across a crash),
 * replacing one that no longer matches.
 */
export function createRequestManagerController(settings: LifecycleSettings): Controller {
  return {
    name: 'certificates-request-manager',
    kind: CERTIFICATE,
    watches: [SECRET, CERTIFICATE_REQUEST],
    mapToKeys: (changed: Resource): ResourceKey[] => ownerCertificateKeysOf(changed),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const certificate = await store.tryGet<CertificateObject>(key);
      if (certificate === undefined || !isTrue(certificate.status?.conditions, 'Issuing')) return {};
      const ns = certificate.metadata.namespace;
      const keySecretName = certificate.status?.nextPrivateKeySecretName;
      if (keySecretName === undefined) return {};
      const keySecret = await store.tryGet<Resource>(keyOf(SECRET, ns, keySecretName));
      const keyBytes = keySecret === undefined ? undefined : secretData(keySecret, 'tls.key');
      if (keyBytes === undefined) return {};
      let privateKey;
      let desired;
      try {
        privateKey = settings.parser.parsePrivateKey(keyBytes);
        desired = desiredCertificate(certificate.spec);
      } catch {
        return {};
      }
      const revision = nextRevision(certificate);
      const name = requestName(certificate.metadata.name, revision);
      const ops: WriteOp[] = [];
      const existing = await store.tryGet<RequestObject>(keyOf(CERTIFICATE_REQUEST, ns, name));
      if (existing !== undefined) {
        const stale = staleRequestReason(
          certificate,
          existing,
          requestMismatch(certificate, desired, existing, privateKey, settings.parser),
        );
        if (stale === undefined) return {};
        ctx.log('info', 'replacing a certificate request', { request: `${ns}/${name}`, reason: stale });
        ops.push({
          op: 'delete',
          key: {
            ...keyOf(CERTIFICATE_REQUEST, ns, name),
            ...(existing.metadata.resourceVersion !== undefined && {
              resourceVersion: existing.metadata.resourceVersion,
            }),
          },
        });
      }
      const csr = buildCsr({
        key: privateKey,
        subject: desired.subject,
        sans: desired.sans,
        ...(certificate.spec.encodeUsagesInRequest !== false && {
          keyUsages: desired.keyUsages,
          extKeyUsages: desired.extKeyUsages,
        }),
        isCA: desired.isCA,
      });
      const annotations: Record<string, string> = {
        [ANNOTATIONS.certificateName]: certificate.metadata.name,
        [ANNOTATIONS.certificateRevision]: String(revision),
        [ANNOTATIONS.privateKeySecretName]: keySecretName,
        [ANNOTATIONS.issuanceAttempt]: String(failedAttempts(certificate)),
      };
      if (desired.nameConstraints !== undefined)
        annotations[ANNOTATIONS.nameConstraints] = JSON.stringify(desired.nameConstraints);
      const request: Resource = {
        apiVersion: CERTIFICATE_REQUEST.apiVersion,
        kind: CERTIFICATE_REQUEST.kind,
        metadata: {
          name,
          namespace: ns ?? 'default',
          annotations,
          ...controlledBy(certificate),
        },
        spec: {
          request: Buffer.from(csr, 'utf8').toString('base64'),
          duration: certificate.spec.duration ?? '2160h',
          issuerRef: issuerRefOf(certificate.spec),
          isCA: desired.isCA,
          usages: [...(certificate.spec.usages ?? DEFAULT_USAGES)],
        },
      };
      ops.push({ op: 'create', resource: request });
      const now = ctx.now();
      ops.push(
        ...(await settings.events.ops(
          store,
          certificate,
          { type: 'Normal', reason: 'Requested', message: 'Created new CertificateRequest resource' },
          now,
        )),
      );
      try {
        await store.transaction(ops);
      } catch (err) {
        if (!isMeshcaError(err, 'ALREADY_EXISTS')) throw err;
        return { requeueAt: now };
      }
      return {};
    },
  };
}
