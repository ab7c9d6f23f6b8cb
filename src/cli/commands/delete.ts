import type { Command } from 'commander';
import { findKind, resolveKind } from '../../api/kinds.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { isMeshcaError, MeshcaError } from '../../errors/index.js';
import type { Store, WriteOp } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { kubectlName, readManifestObjects } from '../manifest-files.js';
import { defaultNamespace } from '../namespace.js';
import { usageError } from '../usage-error.js';
import { withStore } from '../with-store.js';
import { collect } from './apply.js';

interface DeleteFlags {
  filename?: string[];
  namespace?: string;
  ignoreNotFound?: boolean;
}

/** One object delete removed, and why when it was not named itself. */
export interface DeletedObject {
  readonly name: string;
  /** The object that owned it, when it went with its owner. */
  readonly ownedBy?: string;
}

const CERTIFICATE = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };
const CERTIFICATE_REQUEST = { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' };
const SECRET = { apiVersion: 'v1', kind: 'Secret' };

const keyOf = (r: Resource): ResourceKey => ({
  apiVersion: r.apiVersion,
  kind: r.kind,
  name: r.metadata.name,
  ...(r.metadata.namespace !== undefined && { namespace: r.metadata.namespace }),
});

const nameOf = (r: Resource): string => {
  const kind = findKind(r.apiVersion, r.kind);
  return kind === undefined ? `${r.kind}/${r.metadata.name}` : kubectlName(kind, r.metadata.name);
};

/**
 * What a Certificate owns and takes with it: its CertificateRequests and its next-private-key
 * Secrets (found through ownerReferences), but never its own Secret (`spec.secretName`), which
 * cert-manager leaves in place by default so workloads keep their certificate.
 */
export async function ownedByCertificate(store: Store, certificate: Resource): Promise<Resource[]> {
  const uid = certificate.metadata.uid;
  const namespace = certificate.metadata.namespace;
  if (uid === undefined || namespace === undefined) return [];
  const secretName = (certificate['spec'] as { secretName?: string } | undefined)?.secretName;
  const owned = (r: Resource): boolean =>
    (r.metadata.ownerReferences ?? []).some((o) => o.uid === uid && o.kind === 'Certificate');
  const requests = (await store.list(CERTIFICATE_REQUEST, { namespace })).items.filter(owned);
  const secrets = (await store.list(SECRET, { namespace })).items.filter(
    (s) => owned(s) && s.metadata.name !== secretName,
  );
  return [...requests, ...secrets];
}

// A controller may write an object between our read and our delete; a fresh read settles it.
const CONFLICT_ATTEMPTS = 5;

/** Deletes the objects and their dependents in one transaction; missing ones fail unless ignored. Retries a lost race from a fresh read. */
export async function deleteObjects(
  store: Store,
  keys: readonly ResourceKey[],
  ignoreNotFound: boolean,
): Promise<DeletedObject[]> {
  for (let attempt = 1; ; attempt++) {
    const done = await deleteOnce(store, keys, ignoreNotFound, attempt >= CONFLICT_ATTEMPTS);
    if (done !== 'raced') return done;
  }
}

// One read-plan-delete round; 'raced' when the store changed under it (a stale version, a dependent gone).
async function deleteOnce(
  store: Store,
  keys: readonly ResourceKey[],
  ignoreNotFound: boolean,
  last: boolean,
): Promise<DeletedObject[] | 'raced'> {
  const ops: WriteOp[] = [];
  const report: DeletedObject[] = [];
  const missing: string[] = [];
  const planned = new Set<string>();
  const plan = (r: Resource, ownedBy?: string): void => {
    const id = `${r.apiVersion}/${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
    if (planned.has(id)) return;
    planned.add(id);
    ops.push({
      op: 'delete',
      key: {
        ...keyOf(r),
        ...(r.metadata.resourceVersion !== undefined && { resourceVersion: r.metadata.resourceVersion }),
      },
    });
    report.push({ name: nameOf(r), ...(ownedBy !== undefined && { ownedBy }) });
  };
  for (const key of keys) {
    const r = await store.tryGet(key);
    if (r === undefined) {
      const kind = findKind(key.apiVersion, key.kind);
      missing.push(
        `${kind === undefined ? key.kind : kind.singular} ${JSON.stringify(key.name)}${key.namespace === undefined ? '' : ` in namespace ${key.namespace}`}`,
      );
      continue;
    }
    plan(r);
    if (r.apiVersion === CERTIFICATE.apiVersion && r.kind === CERTIFICATE.kind) {
      for (const dep of await ownedByCertificate(store, r)) plan(dep, nameOf(r));
    }
  }
  if (missing.length > 0 && !ignoreNotFound) {
    throw new MeshcaError('NOT_FOUND', `not found: ${missing.join(', ')}; nothing was deleted`, {
      hint: 'check the names with `meshca get`, or pass --ignore-not-found',
    });
  }
  try {
    if (ops.length > 0) await store.transaction(ops);
  } catch (err) {
    if (!last && (isMeshcaError(err, 'CONFLICT') || isMeshcaError(err, 'NOT_FOUND'))) return 'raced';
    throw err;
  }
  return report;
}

/** `meshca delete <kind> <name…>` and `meshca delete -f FILE`: deletes resources (a Certificate with its requests, not its Secret). */
export function registerDelete(program: Command, ctx: CliContext): void {
  program
    .command('delete')
    .description(
      'delete resources by kind and name, or those a file defines; a Certificate takes its CertificateRequests with it but leaves its Secret',
    )
    .argument('[kind]', 'resource type (certificate, issuer, secret, …)')
    .argument('[names...]', 'names of the resources')
    .option(
      '-f, --filename <path>',
      'delete what this file, folder or - (stdin) defines (repeatable)',
      collect,
    )
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .option('--ignore-not-found', 'treat a missing resource as deleted')
    .action(async (kindName: string | undefined, names: string[], flags: DeleteFlags, cmd: Command) => {
      let keys: ResourceKey[];
      if (flags.filename !== undefined) {
        if (kindName !== undefined) throw usageError('give either -f or a kind and names, not both');
        const objects = await readManifestObjects(flags.filename, ctx, {
          namespaceFlag: flags.namespace,
          defaultNamespace: defaultNamespace(ctx),
        });
        keys = objects.map((o) => keyOf(o.resource as Resource));
      } else {
        if (kindName === undefined)
          throw usageError('give a kind and a name (meshca delete certificate istio-ca), or -f FILE');
        const info = resolveKind(kindName);
        if (names.length === 0) throw usageError(`give the name of the ${info.singular} to delete`);
        const namespace = info.namespaced ? (flags.namespace ?? defaultNamespace(ctx)) : undefined;
        keys = names.map((name) => ({
          apiVersion: info.apiVersion,
          kind: info.kind,
          name,
          ...(namespace !== undefined && { namespace }),
        }));
      }
      await withStore(cmd, ctx, async (store) => {
        const deleted = await deleteObjects(store, keys, flags.ignoreNotFound === true);
        for (const d of deleted) {
          ctx.stdout.write(`${d.name} deleted${d.ownedBy === undefined ? '' : ` (owned by ${d.ownedBy})`}\n`);
        }
        if (deleted.length === 0) ctx.stdout.write('nothing to delete\n');
      });
    });
}
