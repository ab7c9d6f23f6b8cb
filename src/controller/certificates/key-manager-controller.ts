import type { KeyObject } from 'node:crypto';
import { controlledBy } from '../owner-reference.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { secretData } from '../../api/secret-data.js';
import { isMeshcaError } from '../../errors/index.js';
import { describeKey, encodePrivateKey, type KeySpec, type PkiParser } from '../../pki/index.js';
import type { WriteOp } from '../../store/store.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { isTrue, suffixedName, type CertificateObject } from './certificate-resources.js';
import { desiredCertificate } from './desired-certificate.js';
import { ownerCertificateKeysOf, type LifecycleSettings } from './lifecycle-options.js';
import { ANNOTATIONS, CERTIFICATE, SECRET, keyOf } from './resource-types.js';
import { keyText } from './spec-match.js';

/** What the key manager does for an issuance. */
export type KeyDecision =
  { readonly reuse: true; readonly message: string } | { readonly generate: true; readonly message: string };

/** True when `key` is of the algorithm and size `spec` asks for. */
export function keyMatchesSpec(key: KeyObject, spec: KeySpec): boolean {
  const have = describeKey(key);
  return have.algorithm === spec.algorithm && have.size === spec.size;
}

/**
 * rotationPolicy (cert-manager): `Always` makes a new key at every issuance; `Never` keeps the key
 * of the current Secret when it is of the asked algorithm and size, else makes one.
 */
export function decideKey(
  policy: 'Always' | 'Never',
  currentKey: KeyObject | undefined,
  spec: KeySpec,
): KeyDecision {
  if (policy === 'Always')
    return { generate: true, message: 'rotationPolicy is Always: a new private key is generated' };
  if (currentKey === undefined)
    return {
      generate: true,
      message: 'rotationPolicy is Never, but the Secret holds no readable private key: one is generated',
    };
  if (!keyMatchesSpec(currentKey, spec)) {
    return {
      generate: true,
      message: `rotationPolicy is Never, but the Secret's key is ${keyText(describeKey(currentKey))} and the spec asks for ${keyText(spec)}: a new key is generated`,
    };
  }
  return {
    reuse: true,
    message: 'rotationPolicy is Never: the private key of the existing Secret is reused',
  };
}

/**
 * The name of a new temporary Secret for the next private key: `<certificate>-<random>`, with the
 * Certificate's name shortened (to 52 characters, cut back to a letter or digit) when the whole
 * would pass 253 characters; the random suffix keeps it unique.
 */
export function nextPrivateKeySecretName(certificateName: string, random: string): string {
  return suffixedName(certificateName, random);
}

function readKey(secret: Resource | undefined, parser: PkiParser): KeyObject | undefined {
  const bytes = secret === undefined ? undefined : secretData(secret, 'tls.key');
  if (bytes === undefined || bytes.length === 0) return undefined;
  try {
    return parser.parsePrivateKey(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The key manager (cert-manager's keymanager controller): while a Certificate is Issuing, keeps
 * the private key for the next certificate in a temporary Secret named by
 * `status.nextPrivateKeySecretName` (created together with that status field, so a crash leaves
 * no orphan); when it is not Issuing, removes that Secret.
 */
export function createKeyManagerController(settings: LifecycleSettings): Controller {
  return {
    name: 'certificates-key-manager',
    kind: CERTIFICATE,
    watches: [SECRET],
    mapToKeys: (changed: Resource): ResourceKey[] => ownerCertificateKeysOf(changed),
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const { store } = ctx;
      const certificate = await store.tryGet<CertificateObject>(key);
      if (certificate === undefined) return {};
      const ns = certificate.metadata.namespace;
      const nextName = certificate.status?.nextPrivateKeySecretName;
      if (!isTrue(certificate.status?.conditions, 'Issuing')) {
        if (nextName === undefined) return {};
        const status = { ...certificate.status };
        delete status.nextPrivateKeySecretName;
        const ops: WriteOp[] = [{ op: 'updateStatus', resource: { ...certificate, status } }];
        if ((await store.tryGet(keyOf(SECRET, ns, nextName))) !== undefined)
          ops.push({ op: 'delete', key: keyOf(SECRET, ns, nextName) });
        await store.transaction(ops);
        return {};
      }
      let desired;
      try {
        desired = desiredCertificate(certificate.spec);
      } catch {
        return {};
      }
      const ops: WriteOp[] = [];
      if (nextName !== undefined) {
        const existing = await store.tryGet<Resource>(keyOf(SECRET, ns, nextName));
        const existingKey = readKey(existing, settings.parser);
        if (existingKey !== undefined && keyMatchesSpec(existingKey, desired.keySpec)) return {};
        // A key of the wrong kind (the spec changed mid-issuance) or an unreadable one is replaced.
        if (existing !== undefined)
          ops.push({
            op: 'delete',
            key: {
              ...keyOf(SECRET, ns, nextName),
              ...(existing.metadata.resourceVersion !== undefined && {
                resourceVersion: existing.metadata.resourceVersion,
              }),
            },
          });
      }
      const current = await store.tryGet<Resource>(keyOf(SECRET, ns, certificate.spec.secretName));
      const currentKey = readKey(current, settings.parser);
      const decision = decideKey(desired.rotationPolicy, currentKey, desired.keySpec);
      // A new RSA key can take seconds to find: generated off the event loop by default.
      const privateKey =
        'reuse' in decision && currentKey !== undefined ? currentKey : await settings.generateKey(desired.keySpec);
      const name = nextName ?? nextPrivateKeySecretName(certificate.metadata.name, settings.random());
      const keyPem = encodePrivateKey(privateKey, 'PKCS8');
      const secret: Resource = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace: ns ?? 'default',
          labels: { 'cert-manager.io/next-private-key': 'true' },
          annotations: {
            [ANNOTATIONS.nextPrivateKey]: 'true',
            [ANNOTATIONS.certificateName]: certificate.metadata.name,
          },
          ...controlledBy(certificate),
        },
        type: 'Opaque',
        data: { 'tls.key': Buffer.from(keyPem, 'utf8').toString('base64') },
      };
      ops.push({ op: 'create', resource: secret });
      if (nextName === undefined) {
        ops.push({
          op: 'updateStatus',
          resource: { ...certificate, status: { ...certificate.status, nextPrivateKeySecretName: name } },
        });
      }
      const now = ctx.now();
      ops.push(
        ...(await settings.events.ops(
          store,
          certificate,
          'reuse' in decision
            ? {
                type: 'Normal',
                reason: 'Reused',
                message: 'Reusing private key stored in existing Secret resource',
              }
            : {
                type: 'Normal',
                reason: 'Generated',
                message: 'Stored new private key in temporary Secret resource',
              },
          now,
        )),
      );
      // The request manager reads this key next and finds it parsed (remembered before the write:
      // its watch may wake the request manager before this reconcile resumes).
      settings.parser.rememberPrivateKey(Buffer.from(keyPem, 'utf8'), privateKey);
      try {
        await store.transaction(ops);
      } catch (err) {
        // Another replica or an earlier run got there first; the next reconcile sees its result.
        if (!isMeshcaError(err, 'ALREADY_EXISTS')) throw err;
        return { requeueAt: now };
      }
      return {};
    },
  };
}
