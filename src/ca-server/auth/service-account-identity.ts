import { MeshcaError } from '../../errors/index.js';
import { IDENTITY_EXTRACTION_FAILED } from './authenticator.js';

/** A Kubernetes service account. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly serviceAccount: string;
}

// RFC 1123 label (a namespace) and DNS subdomain (a service account), as Kubernetes validates them.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUB_PREFIX = 'system:serviceaccount:';

const fail = (message: string): never => {
  throw new MeshcaError('UNAUTHENTICATED', message, {
    hint: 'use a Kubernetes service-account token (projected, audience istio-ca) or one from `meshca token create`',
    details: [IDENTITY_EXTRACTION_FAILED],
  });
};

/** Checks a namespace and service-account name against Kubernetes' name rules. */
export function validServiceAccountRef(namespace: string, serviceAccount: string): string | undefined {
  if (!LABEL.test(namespace))
    return `namespace ${JSON.stringify(namespace.slice(0, 80))} is not a valid Kubernetes namespace name`;
  if (!SUBDOMAIN.test(serviceAccount)) {
    return `service account ${JSON.stringify(serviceAccount.slice(0, 80))} is not a valid Kubernetes service-account name`;
  }
  return undefined;
}

/** Parses `system:serviceaccount:<ns>:<sa>`. */
function parseSubject(sub: string): ServiceAccountRef {
  if (!sub.startsWith(SUB_PREFIX))
    return fail(
      `token subject ${JSON.stringify(sub.slice(0, 120))} is not a service account (system:serviceaccount:<namespace>:<name>)`,
    );
  const parts = sub.slice(SUB_PREFIX.length).split(':');
  if (parts.length !== 2)
    return fail(
      `token subject ${JSON.stringify(sub.slice(0, 120))} must be system:serviceaccount:<namespace>:<name>`,
    );
  return { namespace: parts[0]!, serviceAccount: parts[1]! };
}

/**
 * The workload a verified Kubernetes token names: from the nested `kubernetes.io` claim of a
 * projected token (`namespace`, `serviceaccount.name`), else from `sub`. When both are present
 * they must agree, so a token cannot say two things.
 */
export function serviceAccountFromClaims(claims: Record<string, unknown>): ServiceAccountRef {
  const k8s = claims['kubernetes.io'];
  const sub = claims.sub;
  let ref: ServiceAccountRef | undefined;
  if (k8s !== undefined) {
    if (typeof k8s !== 'object' || k8s === null) return fail('token claim kubernetes.io is not an object');
    const ns = (k8s as Record<string, unknown>).namespace;
    const sa = (k8s as Record<string, unknown>).serviceaccount;
    const name = typeof sa === 'object' && sa !== null ? (sa as Record<string, unknown>).name : undefined;
    if (typeof ns !== 'string') return fail('token claim kubernetes.io.namespace is missing or not a string');
    if (typeof name !== 'string')
      return fail('token claim kubernetes.io.serviceaccount.name is missing or not a string');
    ref = { namespace: ns, serviceAccount: name };
    if (typeof sub === 'string') {
      const fromSub = parseSubject(sub);
      if (fromSub.namespace !== ns || fromSub.serviceAccount !== name) {
        return fail(
          `token subject ${JSON.stringify(sub.slice(0, 120))} disagrees with its kubernetes.io claim (${ns}/${name})`,
        );
      }
    }
  } else if (typeof sub === 'string') {
    ref = parseSubject(sub);
  } else {
    return fail('token names no service account: it has neither a kubernetes.io claim nor a sub claim');
  }
  const problem = validServiceAccountRef(ref.namespace, ref.serviceAccount);
  if (problem !== undefined) return fail(`token ${problem}`);
  return ref;
}
