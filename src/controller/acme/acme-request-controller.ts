import { getCondition, setCondition } from '../../api/conditions.js';
import { controlledBy } from '../owner-reference.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';
import { parseCsr } from '../../pki/index.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import {
  isTrue,
  issuerRefOf,
  requestOutcome,
  type RequestObject,
} from '../certificates/certificate-resources.js';
import { CERTIFICATE_REQUEST, formatTime } from '../certificates/resource-types.js';
import type { AcmeIssuerSource } from './acme-issuer-source.js';
import { ORDER, orderNameOf } from './acme-types.js';
import type { OrderObject } from './order-controller.js';

export { orderNameOf };

/**
 * The ACME side of the request signer: for an Approved CertificateRequest whose issuer is ACME,
 * creates its Order, keeps the request Pending with the Order's state, and when the Order is
 * valid writes `status.certificate` (Ready=True Issued); an invalid or errored Order fails it.
 */
export function createAcmeRequestController(issuers: AcmeIssuerSource): Controller {
  return {
    name: 'certificaterequests-acme',
    kind: CERTIFICATE_REQUEST,
    watches: [ORDER],
    mapToKeys(changed: Resource): ResourceKey[] {
      return (changed.metadata.ownerReferences ?? [])
        .filter((o) => o.kind === 'CertificateRequest')
        .map((o) => ({
          ...CERTIFICATE_REQUEST,
          ...(changed.metadata.namespace !== undefined && { namespace: changed.metadata.namespace }),
          name: o.name,
        }));
    },
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const request = await ctx.store.tryGet<RequestObject>(key);
      if (request === undefined || requestOutcome(request).state !== 'pending') return {};
      const conditions = request.status?.conditions;
      if (!isTrue(conditions, 'Approved')) return {};
      const now = ctx.now();
      const ref = issuerRefOf(request.spec);
      const ns = request.metadata.namespace;
      let issuer: Resource | undefined;
      try {
        issuer = await issuers.resource(ctx.store, { name: ref.name, kind: ref.kind }, ns);
      } catch {
        return {}; // a missing issuer is the request signer's to report
      }
      if (issuer === undefined) return {};
      const setReady = async (
        reason: string,
        status: 'True' | 'False',
        message: string,
        extra: Record<string, unknown> = {},
      ): Promise<void> => {
        const ready = getCondition(conditions, 'Ready');
        if (ready?.reason === reason && ready.message === message && Object.keys(extra).length === 0) return;
        await ctx.store.updateStatus({
          ...request,
          status: {
            ...request.status,
            ...extra,
            conditions: setCondition(conditions, { type: 'Ready', status, reason, message }, now),
          },
        });
      };
      const name = orderNameOf(request);
      const orderKey = { ...ORDER, ...(ns !== undefined && { namespace: ns }), name };
      let order = await ctx.store.tryGet<OrderObject>(orderKey);
      const controller = order?.metadata.ownerReferences?.find((o) => o.controller === true);
      if (
        controller?.kind === 'CertificateRequest' &&
        request.metadata.uid !== undefined &&
        controller.uid !== request.metadata.uid
      ) {
        // The Order of an earlier request of this name and CSR (deleted, then created again): not
        // ours to take over. The Order controller collects it, and its deletion wakes this request.
        await setReady(
          'Pending',
          'False',
          `Waiting for order ${ns ?? ''}/${name}, which belongs to an earlier request of this name, to be removed`,
        );
        return {};
      }
      if (order === undefined) {
        let dnsNames: string[];
        let commonName: string | undefined;
        try {
          const csr = parseCsr(Buffer.from(request.spec.request, 'base64').toString('latin1'));
          dnsNames = [...csr.sans.dnsNames];
          commonName = csr.subject.commonName;
          if (
            csr.sans.ipAddresses.length > 0 ||
            csr.sans.uris.length > 0 ||
            csr.sans.emailAddresses.length > 0
          ) {
            throw new MeshcaError(
              'ISSUER_INVALID',
              'an acme issuer certifies DNS names only; the CSR also asks for IP addresses, URIs or e-mail addresses',
              {
                hint: 'remove ipAddresses, uris and emailAddresses from the Certificate (a public CA will not put SPIFFE IDs into a certificate)',
              },
            );
          }
        } catch (err) {
          const error = toMeshcaError(err);
          await setReady(
            'Failed',
            'False',
            `The certificate request has failed to complete and will not be retried: ${error.message}${error.hint === undefined ? '' : ` (${error.hint})`}`,
            { failureTime: formatTime(now) },
          );
          return {};
        }
        order = await ctx.store.create<OrderObject>({
          apiVersion: ORDER.apiVersion,
          kind: 'Order',
          metadata: {
            name,
            ...(ns !== undefined && { namespace: ns }),
            ...(request.metadata.labels !== undefined && { labels: request.metadata.labels }),
            ...controlledBy(request),
          },
          spec: {
            request: request.spec.request,
            issuerRef: request.spec.issuerRef,
            ...(commonName !== undefined && { commonName }),
            ...(dnsNames.length > 0 && { dnsNames }),
            ...(request.spec.duration !== undefined && { duration: request.spec.duration }),
          },
        } as OrderObject);
      }
      const state = order.status?.state;
      if (state === 'valid' && order.status?.certificate !== undefined) {
        await setReady('Issued', 'True', 'Certificate fetched from issuer successfully', {
          certificate: order.status.certificate,
        });
        return {};
      }
      if (state === 'invalid' || state === 'errored' || state === 'expired') {
        await setReady(
          'Failed',
          'False',
          `Failed to wait for order resource "${name}" to become ready: order is in "${state}" state: ${order.status?.reason ?? ''}`,
          { failureTime: formatTime(now) },
        );
        return {};
      }
      await setReady(
        'Pending',
        'False',
        `Waiting on certificate issuance from order ${ns ?? ''}/${name}: "${state ?? ''}"`,
      );
      return {};
    },
  };
}
