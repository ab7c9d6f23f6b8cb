import type { Command } from 'commander';
import type { Condition } from '../../api/common-schemas.js';
import { getCondition, setCondition } from '../../api/conditions.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { isMeshcaError, MeshcaError } from '../../errors/index.js';
import type { Store } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { defaultNamespace } from '../namespace.js';
import { usageError } from '../usage-error.js';
import { withStore } from '../with-store.js';

/** The reason cmctl renew sets, which the trigger controller treats like any other trigger. */
export const MANUALLY_TRIGGERED_REASON = 'ManuallyTriggered';
/** cmctl renew's message, word for word. */
export const MANUALLY_TRIGGERED_MESSAGE = 'Certificate re-issuance manually triggered';

const CERTIFICATE = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' } as const;
// The controller may write the status between our read and our write; a few fresh tries settle it.
const CONFLICT_ATTEMPTS = 5;

interface RenewFlags {
  namespace?: string;
  all?: boolean;
  allNamespaces?: boolean;
}

/** What renew did to one Certificate. */
export type RenewOutcome = 'triggered' | 'already-issuing';

type WithConditions = Resource & { status?: { conditions?: Condition[] } };

/**
 * Marks one Certificate for re-issuance now: status condition Issuing=True, reason
 * ManuallyTriggered, as `cmctl renew` does. A Certificate already issuing is left alone.
 * Retries a stale read (CONFLICT) a few times; NOT_FOUND when it does not exist.
 */
export async function triggerRenewal(store: Store, key: ResourceKey, now: Date): Promise<RenewOutcome> {
  for (let attempt = 1; ; attempt++) {
    const cert = await store.get<WithConditions>(key);
    if (getCondition(cert.status?.conditions, 'Issuing')?.status === 'True') return 'already-issuing';
    const conditions = setCondition(
      cert.status?.conditions,
      {
        type: 'Issuing',
        status: 'True',
        reason: MANUALLY_TRIGGERED_REASON,
        message: MANUALLY_TRIGGERED_MESSAGE,
      },
      now,
    );
    try {
      await store.updateStatus({ ...cert, status: { ...cert.status, conditions } });
      return 'triggered';
    } catch (err) {
      if (!isMeshcaError(err, 'CONFLICT') || attempt >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

/** `meshca renew NAME…` / `meshca renew --all [-n NS | -A]`: manual re-issuance, like `cmctl renew`. */
export function registerRenew(program: Command, ctx: CliContext): void {
  program
    .command('renew')
    .description('re-issue Certificates now (sets Issuing=True, reason ManuallyTriggered, like cmctl renew)')
    .argument('[names...]', 'Certificates to renew')
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .option('--all', 'renew every Certificate of the namespace')
    .option('-A, --all-namespaces', 'with --all: of every namespace')
    .action(async (names: string[], flags: RenewFlags, cmd: Command) => {
      const all = flags.all === true;
      if (all && names.length > 0) throw usageError('give either names or --all, not both');
      if (!all && names.length === 0)
        throw usageError('give the names of the Certificates to renew, or --all');
      if (flags.allNamespaces === true && !all) throw usageError('-A needs --all');
      if (flags.allNamespaces === true && flags.namespace !== undefined)
        throw usageError('give either -n or -A, not both');
      const namespace = flags.namespace ?? defaultNamespace(ctx);
      await withStore(cmd, ctx, async (store) => {
        let keys: ResourceKey[];
        if (all) {
          const list = await store.list(CERTIFICATE, flags.allNamespaces === true ? {} : { namespace });
          keys = list.items.map((c) => ({
            ...CERTIFICATE,
            name: c.metadata.name,
            namespace: c.metadata.namespace ?? namespace,
          }));
          if (keys.length === 0) {
            ctx.stderr.write(
              `no certificates found${flags.allNamespaces === true ? '' : ` in namespace ${namespace}`}\n`,
            );
            return;
          }
        } else keys = names.map((name) => ({ ...CERTIFICATE, name, namespace }));

        const failures: string[] = [];
        for (const key of keys) {
          const label = `Certificate ${key.namespace ?? ''}/${key.name}`;
          try {
            const outcome = await triggerRenewal(store, key, ctx.now());
            if (outcome === 'triggered') ctx.stdout.write(`Manually triggered issuance of ${label}\n`);
            else if (all) ctx.stdout.write(`Skipped ${label}: an issuance is already in progress\n`);
            else
              failures.push(
                `${label} is already being issued (condition Issuing=True); wait for it to finish`,
              );
          } catch (err) {
            if (!isMeshcaError(err, 'NOT_FOUND')) throw err;
            failures.push(`${label} not found`);
          }
        }
        const code = failures.every((f) => f.endsWith('not found')) ? 'NOT_FOUND' : 'PRECONDITION_FAILED';
        if (failures.length === 1)
          throw new MeshcaError(code, failures[0] ?? '', { hint: hintFor(failures) });
        if (failures.length > 1) {
          throw new MeshcaError(code, `${failures.length} of ${keys.length} Certificates were not renewed`, {
            details: failures,
            hint: hintFor(failures),
          });
        }
      });
    });
}

function hintFor(failures: readonly string[]): string {
  return failures.some((f) => f.endsWith('not found'))
    ? 'list the Certificates with `meshca get certificates -n NAMESPACE`'
    : 'follow it with `meshca status certificate NAME`';
}
