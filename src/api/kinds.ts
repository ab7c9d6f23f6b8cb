import { MeshcaError } from '../errors/index.js';
import type { ResourceType } from './resource.js';
import { suggestName } from './suggest.js';

/** What meshca knows about one kind: its type, the names the CLI accepts, its scope. */
export interface KindInfo extends ResourceType {
  /** Lowercase plural, as in `meshca get certificates`. */
  readonly plural: string;
  /** Lowercase singular. */
  readonly singular: string;
  /** kubectl's short names (`cert`, `cr`, `cm`). */
  readonly shortNames: readonly string[];
  /** false for cluster-scoped kinds (ClusterIssuer, MeshcaConfig). */
  readonly namespaced: boolean;
}

const kind = (
  apiVersion: string,
  name: string,
  plural: string,
  shortNames: readonly string[],
  namespaced: boolean,
): KindInfo => ({ apiVersion, kind: name, plural, singular: name.toLowerCase(), shortNames, namespaced });

/** Every kind meshca accepts, with cert-manager's and Kubernetes' names. */
export const KINDS = [
  kind('cert-manager.io/v1', 'Certificate', 'certificates', ['cert', 'certs'], true),
  kind('cert-manager.io/v1', 'CertificateRequest', 'certificaterequests', ['cr', 'crs'], true),
  kind('cert-manager.io/v1', 'Issuer', 'issuers', [], true),
  kind('cert-manager.io/v1', 'ClusterIssuer', 'clusterissuers', [], false),
  kind('acme.cert-manager.io/v1', 'Order', 'orders', [], true),
  kind('acme.cert-manager.io/v1', 'Challenge', 'challenges', [], true),
  kind('v1', 'Secret', 'secrets', [], true),
  kind('v1', 'ConfigMap', 'configmaps', ['cm'], true),
  kind('v1', 'Event', 'events', ['ev'], true),
  kind('meshca.io/v1alpha1', 'MeshcaConfig', 'meshcaconfigs', [], false),
] as const satisfies readonly KindInfo[];

/** The names by which `info` may be named on a command line. */
function namesOf(info: KindInfo): string[] {
  const group = info.apiVersion.includes('/') ? info.apiVersion.slice(0, info.apiVersion.indexOf('/')) : '';
  const names = [info.singular, info.plural, ...info.shortNames];
  if (group !== '') names.push(`${info.plural}.${group}`, `${info.singular}.${group}`);
  return names;
}

/** The kind with this apiVersion and kind, or undefined. */
export function findKind(apiVersion: string, kindName: string): KindInfo | undefined {
  return KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kindName);
}

/**
 * Resolves what a user typed (`certs`, `Certificate`, `cr`, `certificates.cert-manager.io`) to a
 * kind, ignoring case; throws USAGE naming the closest known name and every kind.
 */
export function resolveKind(name: string): KindInfo {
  const wanted = name.trim().toLowerCase();
  for (const info of KINDS) if (namesOf(info).includes(wanted)) return info;
  const all = KINDS.flatMap(namesOf);
  const close = suggestName(wanted, all);
  throw new MeshcaError(
    'USAGE',
    `unknown resource type ${JSON.stringify(name)}${close === undefined ? '' : `; did you mean "${close}"?`}`,
    { hint: `meshca knows: ${KINDS.map((k) => [k.plural, ...k.shortNames].join('|')).join(', ')}` },
  );
}
