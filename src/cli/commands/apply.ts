import type { Command } from 'commander';
import type { ObjectMeta, Resource } from '../../api/resource.js';
import { isMeshcaError } from '../../errors/index.js';
import { canonicalJson } from '../../store/canonical-json.js';
import type { Store, WriteOp } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { kubectlName, readManifestObjects, type ManifestObject } from '../manifest-files.js';
import { defaultNamespace } from '../namespace.js';
import { withStore } from '../with-store.js';

/** What apply did to one object, as kubectl says it. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/** One line of apply's report. */
export interface AppliedObject {
  readonly name: string;
  readonly outcome: ApplyOutcome;
}

interface ApplyFlags {
  filename: string[];
  namespace?: string;
  dryRun?: boolean;
}

// A transaction that loses a race with the controller is tried again from a fresh read.
const CONFLICT_ATTEMPTS = 5;

/** Collects a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

// Metadata the store owns; a file from `kubectl get -o yaml` carries them and they must not be sent.
function userMetadata(meta: ObjectMeta): ObjectMeta {
  const { uid: _u, resourceVersion: _r, generation: _g, creationTimestamp: _c, ...rest } = meta;
  return rest;
}

// What `apply` controls of an object: everything but status and store-owned metadata.
function appliedPart(r: Resource): string {
  const { status: _s, metadata, ...body } = r;
  const meta = userMetadata(metadata);
  return canonicalJson({
    ...body,
    metadata: { ...meta, labels: meta.labels ?? {}, annotations: meta.annotations ?? {} },
  });
}

/** The write that brings `existing` (or nothing) to the file's object, or undefined when it is already so. */
export function planWrite(
  wanted: Resource,
  existing: Resource | undefined,
): { op: WriteOp; outcome: ApplyOutcome } | undefined {
  const { status: _ignored, ...body } = wanted;
  const meta = userMetadata(wanted.metadata);
  if (existing === undefined)
    return { op: { op: 'create', resource: { ...body, metadata: meta } }, outcome: 'created' };
  const next: Resource = {
    ...body,
    metadata: {
      ...meta,
      // Owner references are set by controllers; a file without them keeps them.
      ...(meta.ownerReferences === undefined &&
        existing.metadata.ownerReferences !== undefined && {
          ownerReferences: existing.metadata.ownerReferences,
        }),
      ...(existing.metadata.resourceVersion !== undefined && {
        resourceVersion: existing.metadata.resourceVersion,
      }),
    },
  };
  if (appliedPart(next) === appliedPart(existing)) return undefined;
  return { op: { op: 'update', resource: next }, outcome: 'configured' };
}

/** Writes every object in one store transaction (all or none), retrying from a fresh read when the store reports a conflict. */
export async function applyObjects(
  store: Store,
  objects: readonly ManifestObject[],
  dryRun = false,
): Promise<AppliedObject[]> {
  for (let attempt = 1; ; attempt++) {
    const ops: WriteOp[] = [];
    const report: AppliedObject[] = [];
    for (const o of objects) {
      const r = o.resource as Resource;
      const existing = await store.tryGet({
        apiVersion: r.apiVersion,
        kind: r.kind,
        name: r.metadata.name,
        ...(r.metadata.namespace !== undefined && { namespace: r.metadata.namespace }),
      });
      const plan = planWrite(r, existing);
      if (plan !== undefined) ops.push(plan.op);
      report.push({ name: kubectlName(o.kind, r.metadata.name), outcome: plan?.outcome ?? 'unchanged' });
    }
    try {
      if (ops.length > 0 && !dryRun) await store.transaction(ops);
      return report;
    } catch (err) {
      // ALREADY_EXISTS: another writer created one of them between our read and our write.
      const raced = isMeshcaError(err, 'CONFLICT') || isMeshcaError(err, 'ALREADY_EXISTS');
      if (!raced || attempt >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

/** `meshca apply -f FILE|DIR|-`: creates or updates resources from cert-manager YAML, all or nothing. */
export function registerApply(program: Command, ctx: CliContext): void {
  program
    .command('apply')
    .description(
      'create or update resources from YAML or JSON files (cert-manager YAML applies unchanged); all or nothing',
    )
    .requiredOption(
      '-f, --filename <path>',
      'a file, a folder of .yaml/.yml/.json files, or - for standard input (repeatable)',
      collect,
    )
    .option(
      '-n, --namespace <ns>',
      'namespace of objects that name none (default $MESHCA_NAMESPACE, else istio-system)',
    )
    .option('--dry-run', 'validate and say what would change, writing nothing')
    .action(async (flags: ApplyFlags, cmd: Command) => {
      const objects = await readManifestObjects(flags.filename, ctx, {
        namespaceFlag: flags.namespace,
        defaultNamespace: defaultNamespace(ctx),
      });
      await withStore(cmd, ctx, async (store) => {
        const report = await applyObjects(store, objects, flags.dryRun === true);
        const suffix = flags.dryRun === true ? ' (dry run)' : '';
        for (const line of report) ctx.stdout.write(`${line.name} ${line.outcome}${suffix}\n`);
      }, { create: true });
    });
}
