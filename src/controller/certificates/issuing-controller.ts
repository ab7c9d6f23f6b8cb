import { getCondition, setCondition } from '../../api/conditions.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { isMeshcaError, type MeshcaError } from '../../errors/index.js';
import { publicKeysEqual, renewalTime, type Certificate, type PkiParser } from '../../pki/index.js';
import type { WriteOp } from '../../store/store.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import {
  failedAttempts,
  isOfCurrentAttempt,
  isTrue,
  nextRevision,
  requestName,
  requestOutcome,
  withoutCondition,
  type CertificateObject,
  type RequestObject,
} from './certificate-resources.js';
import { buildCertificateSecret, refreshCertificateSecret } from './certificate-secret.js';
import { desiredCertificate } from './desired-certificate.js';
import { KEYSTORE_KEYS, buildKeystores, wantsKeystore, type KeystoreFormat } from './keystores.js';
import {
  SecretNameIndex,
  certificateKeysOfWatched,
  secretNameAndKeystorePasswords,
  type LifecycleSettings,
} from './lifecycle-options.js';
import {
  ANNOTATIONS,
  CERTIFICATE,
  CERTIFICATE_REQUEST,
  SECRET,
  formatTime,
  keyOf,
} from './resource-types.js';
import { decideReadiness, READY_MESSAGE } from './readiness.js';
import { pendingRetryDelay } from './request-signer-controller.js';
import { inspectSecret } from './secret-state.js';
import { requestMismatch } from './spec-match.js';

const withVersion = (
  key: ResourceKey,
  resource: Resource | undefined,
): ResourceKey & { resourceVersion?: string } =>
  resource?.metadata.resourceVersion === undefined
    ? key
    : { ...key, resourceVersion: resource.metadata.resourceVersion };

/**
 * The status a Certificate gets when a certificate is stored: revision+1, validity, renewal time,
 * Ready; the Issuing condition, the failure count and the next key's name removed. Shared by the
 * issuing controller and `meshca init`, so what init writes looks issued to the trigger.
 */
export function issuedStatus(
  certificate: Pick<CertificateObject, 'spec' | 'status' | 'metadata'>,
  issued: Certificate,
  revision: number,
  now: Date,
): NonNullable<CertificateObject['status']> {
  const desired = desiredCertificate(certificate.spec);
  const {
    lastFailureTime: _f,
    failedIssuanceAttempts: _a,
    nextPrivateKeySecretName: _n,
    ...kept
  } = certificate.status ?? {};
  void _f;
  void _a;
  void _n;
  return {
    ...kept,
    revision,
    notBefore: formatTime(issued.notBefore),
    notAfter: formatTime(issued.notAfter),
    renewalTime: formatTime(
      renewalTime({
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        ...(desired.renewBeforeMs !== undefined && { renewBeforeMs: desired.renewBeforeMs }),
        ...(desired.renewBeforePercentage !== undefined && {
          renewBeforePercentage: desired.renewBeforePercentage,
        }),
      }),
    ),
    conditions: setCondition(
      withoutCondition(certificate.status?.conditions, 'Issuing'),
      {
        type: 'Ready',
        status: 'True',
        reason: 'Ready',
        message: READY_MESSAGE,
        ...(certificate.metadata.generation !== undefined && {
          observedGeneration: certificate.metadata.generation,
        }),
      },
      now,
    ),
  };
}

/**
 * The issuing controller (cert-manager's issuing controller): when the request of the next
 * revision is issued, writes the Secret, the Certificate's new status and the removal of the
 * next key in ONE transaction, so a crash leaves either the old state or the new one, never a
 * Secret whose key does not match its certificate. When that request failed or was denied,
 * records the failure (Issuing=False, failedIssuanceAttempts+1, lastFailureTime) for the
 * trigger's backoff. A keystore password that cannot be read yet (its Secret or key missing, or
 * empty) is no failure, as in cert-manager: the signed request and the next key are kept, the
 * Issuing condition's message names the Secret, and the issuance completes as soon as the password
 * Secret is created or fixed (it is watched) or at the next retry. When not issuing, keeps the
 * Secret's metadata and extra outputs current.
 */
export function createIssuingController(settings: LifecycleSettings): Controller {
  // spec.secretName and the keystore password Secrets: a password Secret created later wakes its Certificate.
  const secrets = new SecretNameIndex(secretNameAndKeystorePasswords);
  /** `namespace/name` → how many times in a row the Certificate waited for its keystore password. */
  const passwordWaits = new Map<string, number>();
  return {
    name: 'certificates-issuing',
    kind: CERTIFICATE,
    watches: [CERTIFICATE_REQUEST, SECRET],
    mapToKeys: (changed: Resource): ResourceKey[] =>
      changed.metadata.annotations?.[ANNOTATIONS.nextPrivateKey] === 'true'
        ? []
        : certificateKeysOfWatched(changed, secrets),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const certificate = await store.tryGet<CertificateObject>(key);
      secrets.observe(key, certificate);
      const waitId = `${key.namespace ?? ''}/${key.name}`;
      if (certificate === undefined) {
        passwordWaits.delete(waitId);
        return {};
      }
      const ns = certificate.metadata.namespace;
      const secretKey = keyOf(SECRET, ns, certificate.spec.secretName);
      if (!isTrue(certificate.status?.conditions, 'Issuing')) {
        passwordWaits.delete(waitId);
        await refreshSecret(certificate, ctx, settings.parser);
        return {};
      }
      const revision = nextRevision(certificate);
      const request = await store.tryGet<RequestObject>(
        keyOf(CERTIFICATE_REQUEST, ns, requestName(certificate.metadata.name, revision)),
      );
      if (request === undefined) return {};
      // A request of an earlier attempt is the request manager's to replace, not a new outcome.
      if (!isOfCurrentAttempt(certificate, request)) return {};
      const outcome = requestOutcome(request);
      if (outcome.state === 'pending') return {};
      const now = ctx.now();
      const keySecretName = certificate.status?.nextPrivateKeySecretName;
      const keySecret =
        keySecretName === undefined
          ? undefined
          : await store.tryGet<Resource>(keyOf(SECRET, ns, keySecretName));
      const dropKey: WriteOp[] =
        keySecret === undefined || keySecretName === undefined
          ? []
          : [{ op: 'delete', key: withVersion(keyOf(SECRET, ns, keySecretName), keySecret) }];

      const fail = async (message: string): Promise<ReconcileResult> => {
        passwordWaits.delete(waitId);
        const { nextPrivateKeySecretName: _n, ...rest } = certificate.status ?? {};
        void _n;
        const status = {
          ...rest,
          failedIssuanceAttempts: failedAttempts(certificate) + 1,
          lastFailureTime: formatTime(now),
          conditions: setCondition(
            certificate.status?.conditions,
            { type: 'Issuing', status: 'False', reason: 'Failed', message },
            now,
          ),
        };
        const event = await settings.events.ops(
          store,
          certificate,
          { type: 'Warning', reason: 'Failed', message },
          now,
        );
        await store.transaction([
          { op: 'updateStatus', resource: { ...certificate, status } },
          ...dropKey,
          ...event,
        ]);
        ctx.log('warn', 'certificate issuance failed', {
          certificate: `${ns}/${certificate.metadata.name}`,
          attempts: status.failedIssuanceAttempts,
          error: message,
        });
        return {};
      };

      const waitForPassword = async (err: MeshcaError): Promise<ReconcileResult> => {
        const issuing = getCondition(certificate.status?.conditions, 'Issuing');
        const message = `Waiting for the keystore password: ${err.message}${err.hint === undefined ? '' : ` (${err.hint})`}; the certificate signed for request ${request.metadata.name} is kept and stored as soon as the password can be read`;
        if (issuing !== undefined && issuing.message !== message) {
          const { lastTransitionTime: _t, ...kept } = issuing;
          void _t;
          await store.updateStatus({
            ...certificate,
            status: {
              ...certificate.status,
              conditions: setCondition(certificate.status?.conditions, { ...kept, message }, now),
            },
          });
        }
        ctx.log('warn', 'certificate issuance waits for its keystore password', {
          certificate: `${ns}/${certificate.metadata.name}`,
          request: request.metadata.name,
          error: err.message,
        });
        // The password Secret is watched; this retry is only the safety net (5 s doubling to 5 min).
        const n = (passwordWaits.get(waitId) ?? 0) + 1;
        passwordWaits.set(waitId, n);
        return { requeueAt: new Date(now.getTime() + pendingRetryDelay(n, settings.pendingRetryBaseMs)) };
      };

      if (outcome.state !== 'issued') {
        return fail(`The certificate request has failed to complete and will be retried: ${outcome.message}`);
      }
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
      // A request for an older spec or another key waits to be replaced by the request manager.
      if (requestMismatch(certificate, desired, request, privateKey, settings.parser) !== undefined)
        return {};
      let chain: Certificate[];
      let ca: Certificate[];
      try {
        chain = settings.parser.parseCertificates(
          Buffer.from(request.status?.certificate ?? '', 'base64').toString('latin1'),
        );
        ca =
          request.status?.ca === undefined
            ? []
            : settings.parser.parseCertificates(Buffer.from(request.status.ca, 'base64').toString('latin1'));
      } catch (err) {
        return fail(`The issued certificate cannot be read: ${(err as Error).message}`);
      }
      const [leaf, ...intermediates] = chain;
      if (leaf === undefined) return fail('The issuer returned no certificate');
      if (!publicKeysEqual(leaf.publicKey, privateKey))
        return fail('The issuer returned a certificate for another private key');
      let keystores: Record<string, Buffer> | undefined;
      try {
        keystores = await buildKeystores(
          store,
          certificate,
          { leaf, chain: intermediates, ca, key: privateKey },
          now,
        );
      } catch (err) {
        // A password Secret (or its key) not there yet is retried, as cert-manager does: the
        // signed certificate and the key are kept. A spec that cannot work fails the issuance.
        if (isMeshcaError(err, 'NOT_FOUND') && err.retryable) return waitForPassword(err);
        return fail(`The keystores cannot be written: ${(err as Error).message}`);
      }
      const existing = await store.tryGet<Resource>(secretKey);
      const secret = buildCertificateSecret({
        certificate,
        leaf,
        chain: intermediates,
        ca,
        key: privateKey,
        existing,
        keystores,
      });
      passwordWaits.delete(waitId);
      const issued = issuedStatus(certificate, leaf, revision, now);
      // Ready as the readiness controller will see it: True only when what is stored matches the
      // spec (an issuer may answer with another subject or names; the trigger then holds back).
      const readiness = decideReadiness({ ...certificate, status: issued }, secret, request, now, settings.parser);
      const status =
        readiness.condition.status === 'True'
          ? issued
          : {
              ...issued,
              conditions: setCondition(
                issued.conditions,
                {
                  ...readiness.condition,
                  ...(certificate.metadata.generation !== undefined && {
                    observedGeneration: certificate.metadata.generation,
                  }),
                },
                now,
              ),
            };
      const event = await settings.events.ops(
        store,
        certificate,
        { type: 'Normal', reason: 'Issued', message: 'The certificate has been successfully issued' },
        now,
      );
      // The trigger and readiness read the Secret's key (re-encoded) next: they find it parsed.
      const storedKey = secretData(secret, 'tls.key');
      if (storedKey !== undefined) settings.parser.rememberPrivateKey(storedKey, privateKey);
      await store.transaction([
        existing === undefined ? { op: 'create', resource: secret } : { op: 'update', resource: secret },
        { op: 'updateStatus', resource: { ...certificate, status } },
        ...dropKey,
        ...event,
      ]);
      ctx.log('info', 'certificate issued', {
        certificate: `${ns}/${certificate.metadata.name}`,
        revision,
        serial: leaf.serialNumber,
        notAfter: leaf.notAfter.toISOString(),
      });
      return {};
    },
  };
}

/** Brings an up-to-date Secret's metadata and extra outputs in line with the spec, without a new certificate. */
async function refreshSecret(
  certificate: CertificateObject,
  ctx: ReconcileContext,
  parser: PkiParser,
): Promise<void> {
  const secret = await ctx.store.tryGet<Resource>(
    keyOf(SECRET, certificate.metadata.namespace, certificate.spec.secretName),
  );
  if (secret === undefined) return;
  let state;
  try {
    state = inspectSecret(certificate, secret, undefined, parser);
  } catch {
    return;
  }
  if (!state.ok) return;
  const caBytes = secretData(secret, 'ca.crt');
  let ca: Certificate[];
  try {
    ca = caBytes === undefined ? [] : parser.parseCertificates(caBytes.toString('latin1'));
  } catch {
    return;
  }
  const material = { leaf: state.pair.certificate, chain: state.pair.chain, ca, key: state.pair.key };
  // Keystores asked for after issuance are written now; a password not there yet waits for the next change.
  let keystores: Record<string, Buffer> | undefined;
  const missing = (['pkcs12', 'jks'] as KeystoreFormat[]).filter(
    (f) => wantsKeystore(certificate, f) && secretData(secret, KEYSTORE_KEYS[f][0] ?? '') === undefined,
  );
  if (missing.length > 0) {
    try {
      keystores = await buildKeystores(ctx.store, certificate, material, ctx.now(), missing);
    } catch {
      keystores = undefined;
    }
  }
  const refreshed = refreshCertificateSecret({
    certificate,
    ...material,
    existing: secret,
    keystores,
  });
  if (refreshed !== undefined) await ctx.store.update(refreshed);
}
