import type { KeyObject } from 'node:crypto';
import { getCondition, setCondition } from '../../api/conditions.js';
import { parseGoDuration } from '../../api/go-duration.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { MeshcaError, toMeshcaError } from '../../errors/index.js';
import { CaNotYetValidError } from '../../issuers/ca/ca-issuer.js';
import { createIssuer } from '../../issuers/create-issuer.js';
import type { Issuer } from '../../issuers/issuer.js';
import { parseCsr, parsePrivateKey, verifyCsr, type NameConstraints } from '../../pki/index.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { isTrue, issuerRefOf, requestOutcome, type RequestObject } from './certificate-resources.js';
import { DEFAULT_DURATION_MS } from './desired-certificate.js';
import type { LifecycleSettings } from './lifecycle-options.js';
import {
  ANNOTATIONS,
  CERTIFICATE_REQUEST,
  CLUSTER_ISSUER,
  ISSUER,
  SECRET,
  formatTime,
  keyOf,
} from './resource-types.js';
import { mapUsages } from './usages.js';

/** The longest wait between two tries of a request whose issuer is not ready. */
export const MAX_PENDING_RETRY_MS = 300_000;

/**
 * What a signing failure means for the request: final (Ready=False Failed) or worth retrying
 * (Pending); `notBefore`, when set, is the earliest instant a retry can succeed (a CA not valid yet).
 */
export function classifySignFailure(err: unknown): { final: boolean; error: MeshcaError; notBefore?: Date } {
  const error = toMeshcaError(err);
  if (error instanceof CaNotYetValidError) return { final: false, error, notBefore: error.validFrom };
  return { final: !error.retryable, error };
}

/** The delay before retry n (1-based) of a pending request: base × 2^(n−1), at most 5 minutes. */
export function pendingRetryDelay(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30), MAX_PENDING_RETRY_MS);
}

const keyText = (k: ResourceKey): string => `${k.kind}/${k.namespace ?? ''}/${k.name}`;

/**
 * The request signer (cert-manager's per-issuer CertificateRequest controllers): signs an
 * Approved request with its Issuer or ClusterIssuer, writing `status.certificate` and
 * `status.ca` with `Ready=True` (Issued). A final failure is `Ready=False` (Failed) with a
 * failureTime; an issuer not ready yet leaves it `Ready=False` (Pending) and retries with backoff
 * (a CA not valid yet: at its notBefore), and sooner when that issuer or its Secret changes. A
 * Denied request becomes `Ready=False` (Denied).
 */
export function createRequestSignerController(settings: LifecycleSettings): Controller {
  // Requests waiting on an issuer, by what they wait on (the issuer, its Secret), so a change to
  // either wakes them without a scan.
  const waiting = new Map<string, Map<string, ResourceKey>>();
  const attempts = new Map<string, number>();
  const wait = (on: string, key: ResourceKey): void => {
    let set = waiting.get(on);
    if (set === undefined) waiting.set(on, (set = new Map<string, ResourceKey>()));
    set.set(keyText(key), key);
  };
  const forget = (key: ResourceKey): void => {
    attempts.delete(keyText(key));
    for (const [on, set] of waiting) {
      set.delete(keyText(key));
      if (set.size === 0) waiting.delete(on);
    }
  };

  const sign = async (
    request: RequestObject,
    ctx: ReconcileContext,
    now: Date,
  ): Promise<{ chain: string; ca: string } | undefined> => {
    const ref = issuerRefOf(request.spec);
    const ns = request.metadata.namespace;
    const issuerKey =
      ref.kind === 'ClusterIssuer' ? keyOf(CLUSTER_ISSUER, undefined, ref.name) : keyOf(ISSUER, ns, ref.name);
    const requestKey = keyOf(CERTIFICATE_REQUEST, ns, request.metadata.name);
    wait(keyText(issuerKey), requestKey);
    const issuerResource = await ctx.store.tryGet<Resource>(issuerKey);
    if (issuerResource === undefined) {
      throw new MeshcaError(
        'ISSUER_NOT_FOUND',
        `${ref.kind} ${ref.kind === 'Issuer' ? `${ns ?? ''}/` : ''}${ref.name} does not exist`,
        {
          hint: 'create it with meshca apply; the request waits for it',
        },
      );
    }
    // ACME cannot sign in one call: the Order controllers (src/controller/acme) own these requests.
    if (((issuerResource['spec'] ?? {}) as { acme?: unknown }).acme !== undefined) return undefined;
    const caSecret = ((issuerResource['spec'] ?? {}) as { ca?: { secretName?: unknown } }).ca?.secretName;
    if (typeof caSecret === 'string') {
      wait(
        keyText(
          keyOf(SECRET, ref.kind === 'ClusterIssuer' ? settings.clusterResourceNamespace : ns, caSecret),
        ),
        requestKey,
      );
    }
    const issuer: Issuer = await createIssuer(issuerResource, {
      ...settings.issuerDependencies,
      getSecret: (namespace, name) => ctx.store.tryGet<Resource>(keyOf(SECRET, namespace, name)),
      clusterResourceNamespace: settings.clusterResourceNamespace,
      ...(settings.backdateMs !== undefined && { backdateMs: settings.backdateMs }),
      parser: settings.parser,
    });
    const csr = parseCsr(Buffer.from(request.spec.request, 'base64').toString('latin1'));
    verifyCsr(csr);
    let privateKey: KeyObject | undefined;
    const keySecretName = request.metadata.annotations?.[ANNOTATIONS.privateKeySecretName];
    if (issuer.type === 'selfSigned' && keySecretName !== undefined) {
      const keySecret = await ctx.store.tryGet<Resource>(keyOf(SECRET, ns, keySecretName));
      const bytes = keySecret === undefined ? undefined : secretData(keySecret, 'tls.key');
      if (bytes === undefined) {
        throw new MeshcaError(
          'ISSUER_INVALID',
          `the private key Secret ${ns ?? ''}/${keySecretName} of this self-signed request is gone`,
          {
            hint: 'the Certificate makes a new request with a new key on its next attempt',
          },
        );
      }
      privateKey = parsePrivateKey(bytes);
    }
    let durationMs = DEFAULT_DURATION_MS;
    if (request.spec.duration !== undefined) {
      try {
        durationMs = parseGoDuration(request.spec.duration);
      } catch (err) {
        throw new MeshcaError('INVALID_RESOURCE', `spec.duration: ${(err as Error).message}`, { cause: err });
      }
    }
    const isCA = request.spec.isCA ?? false;
    const usages = mapUsages(request.spec.usages, isCA);
    const constraintsText = request.metadata.annotations?.[ANNOTATIONS.nameConstraints];
    let nameConstraints: NameConstraints | undefined;
    if (constraintsText !== undefined) {
      try {
        nameConstraints = JSON.parse(constraintsText) as NameConstraints;
      } catch (err) {
        throw new MeshcaError('INVALID_RESOURCE', `annotation ${ANNOTATIONS.nameConstraints} is not JSON`, {
          cause: err,
        });
      }
    }
    const result = await issuer.sign({
      csr,
      durationMs,
      isCA,
      keyUsages: usages.keyUsages,
      extKeyUsages: usages.extKeyUsages,
      ...(nameConstraints !== undefined && { nameConstraints }),
      ...(privateKey !== undefined && { privateKey }),
      now,
    });
    const chain = [result.certificate, ...result.chain.filter((c) => !c.selfSigned)]
      .map((c) => c.pem)
      .join('');
    return { chain, ca: result.ca.map((c) => c.pem).join('') };
  };

  return {
    name: 'certificaterequests-signer',
    kind: CERTIFICATE_REQUEST,
    watches: [ISSUER, CLUSTER_ISSUER, SECRET],
    mapToKeys(changed: Resource): ResourceKey[] {
      const k = keyOf(changed, changed.metadata.namespace, changed.metadata.name);
      return [...(waiting.get(keyText(k))?.values() ?? [])];
    },
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const request = await ctx.store.tryGet<RequestObject>(key);
      if (request === undefined) {
        forget(key);
        return {};
      }
      const now = ctx.now();
      const conditions = request.status?.conditions;
      const outcome = requestOutcome(request);
      if (outcome.state === 'denied') {
        forget(key);
        const ready = getCondition(conditions, 'Ready');
        if (ready?.reason === 'Denied') return {};
        await ctx.store.updateStatus({
          ...request,
          status: {
            ...request.status,
            failureTime: formatTime(now),
            conditions: setCondition(
              conditions,
              {
                type: 'Ready',
                status: 'False',
                reason: 'Denied',
                message: 'The CertificateRequest was denied by an approval controller',
              },
              now,
            ),
          },
        });
        return {};
      }
      if (outcome.state !== 'pending') {
        forget(key);
        return {};
      }
      if (!isTrue(conditions, 'Approved')) return {};
      try {
        const signed = await sign(request, ctx, now);
        forget(key);
        if (signed === undefined) return {};
        await ctx.store.updateStatus({
          ...request,
          status: {
            ...request.status,
            certificate: Buffer.from(signed.chain, 'utf8').toString('base64'),
            ca: Buffer.from(signed.ca, 'utf8').toString('base64'),
            conditions: setCondition(
              conditions,
              {
                type: 'Ready',
                status: 'True',
                reason: 'Issued',
                message: 'Certificate fetched from issuer successfully',
              },
              now,
            ),
          },
        });
        return {};
      } catch (err) {
        const { final, error, notBefore } = classifySignFailure(err);
        const message = `${final ? 'The certificate request has failed to complete and will not be retried' : 'Waiting for the issuer'}: ${error.message}${error.hint === undefined ? '' : ` (${error.hint})`}`;
        const status: Record<string, unknown> = {
          ...request.status,
          conditions: setCondition(
            conditions,
            { type: 'Ready', status: 'False', reason: final ? 'Failed' : 'Pending', message },
            now,
          ),
        };
        if (final) {
          forget(key);
          status['failureTime'] = formatTime(now);
        }
        const ready = getCondition(conditions, 'Ready');
        if (ready?.reason !== (final ? 'Failed' : 'Pending') || ready.message !== message || final) {
          await ctx.store.updateStatus({ ...request, status });
        }
        ctx.log(
          final ? 'warn' : 'info',
          final ? 'certificate request failed' : 'certificate request waits for its issuer',
          {
            request: `${request.metadata.namespace ?? ''}/${request.metadata.name}`,
            code: error.code,
            error: error.message,
          },
        );
        if (final) return {};
        // A CA not valid yet can sign from its notBefore on, and not a moment before: retry then,
        // not at the backoff, which may come too soon (another failure) or minutes late.
        if (notBefore !== undefined && notBefore.getTime() > now.getTime()) return { requeueAt: notBefore };
        const n = (attempts.get(keyText(key)) ?? 0) + 1;
        attempts.set(keyText(key), n);
        return { requeueAt: new Date(now.getTime() + pendingRetryDelay(n, settings.pendingRetryBaseMs)) };
      }
    },
  };
}
