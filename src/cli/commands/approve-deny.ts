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

/** The decision on a CertificateRequest: the condition type it sets. */
export type Decision = 'Approved' | 'Denied';

/** The reason approve and deny set unless --reason says otherwise. */
export const DEFAULT_DECISION_REASON = 'cert-manager.io';

const CERTIFICATE_REQUEST = { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' } as const;
const CONFLICT_ATTEMPTS = 5;
// Conditions are read by people; these bounds keep a pasted file out of one.
const MAX_REASON = 128;
const MAX_MESSAGE = 4096;

type WithConditions = Resource & { status?: { conditions?: Condition[] } };

/**
 * Sets Approved=True or Denied=True on a CertificateRequest. Both are final and exclude each
 * other (cert-manager's rule), so a request already decided is refused with PRECONDITION_FAILED
 * naming the decision found. Retries a stale read (CONFLICT) a few times.
 */
export async function decideRequest(
  store: Store,
  key: ResourceKey,
  decision: Decision,
  reason: string,
  message: string,
  now: Date,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const cr = await store.get<WithConditions>(key);
    for (const type of ['Approved', 'Denied'] as const) {
      const found = getCondition(cr.status?.conditions, type);
      if (found?.status !== 'True') continue;
      const what = `CertificateRequest ${key.namespace ?? ''}/${key.name}`;
      throw new MeshcaError(
        'PRECONDITION_FAILED',
        type === decision
          ? `${what} is already ${type.toLowerCase()} (reason ${found.reason ?? 'none'})`
          : `${what} is already ${type.toLowerCase()} (reason ${found.reason ?? 'none'}); it cannot also be ${decision.toLowerCase()}`,
        {
          hint: 'an approval or denial is final: create a new request (`meshca renew` on its Certificate) instead',
        },
      );
    }
    const conditions = setCondition(
      cr.status?.conditions,
      { type: decision, status: 'True', reason, message },
      now,
    );
    try {
      await store.updateStatus({ ...cr, status: { ...cr.status, conditions } });
      return;
    } catch (err) {
      if (!isMeshcaError(err, 'CONFLICT') || attempt >= CONFLICT_ATTEMPTS) throw err;
    }
  }
}

interface DecisionFlags {
  namespace?: string;
  reason: string;
  message?: string;
}

function register(program: Command, ctx: CliContext, verb: 'approve' | 'deny', decision: Decision): void {
  program
    .command(verb)
    .description(`${verb} a CertificateRequest (sets ${decision}=True, final), like cmctl ${verb}`)
    .argument('<name>', 'the CertificateRequest')
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .option('--reason <reason>', 'the reason recorded on the condition', DEFAULT_DECISION_REASON)
    .option(
      '--message <text>',
      `the message recorded on the condition (default: manually ${decision.toLowerCase()} by "meshca")`,
    )
    .action(async (name: string, flags: DecisionFlags, cmd: Command) => {
      if (flags.reason.trim() === '') throw usageError('--reason must not be empty');
      if (flags.reason.length > MAX_REASON)
        throw usageError(`--reason must be at most ${MAX_REASON} characters`);
      if (flags.message !== undefined && flags.message.length > MAX_MESSAGE) {
        throw usageError(`--message must be at most ${MAX_MESSAGE} characters`);
      }
      const namespace = flags.namespace ?? defaultNamespace(ctx);
      const message = flags.message ?? `manually ${decision.toLowerCase()} by "meshca"`;
      await withStore(cmd, ctx, async (store) => {
        await decideRequest(
          store,
          { ...CERTIFICATE_REQUEST, name, namespace },
          decision,
          flags.reason,
          message,
          ctx.now(),
        );
        ctx.stdout.write(`${decision} CertificateRequest '${namespace}/${name}'\n`);
      });
    });
}

/** `meshca approve NAME` and `meshca deny NAME` for CertificateRequests. */
export function registerApproveDeny(program: Command, ctx: CliContext): void {
  register(program, ctx, 'approve', 'Approved');
  register(program, ctx, 'deny', 'Denied');
}
