import type { Challenge } from '../../api/acme-challenge.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import type { AcmeIssuerSource } from './acme-issuer-source.js';
import { PollBackoff, acmeRetry } from './acme-retry.js';
import { CHALLENGE } from './acme-types.js';
import { deleteAsRead, ownersGone } from './garbage-collection.js';

type ChallengeObject = Challenge & Resource;

/** Makes a challenge answerable (DNS-01: writes the TXT record); HTTP-01 is served from the resource itself. */
export type ChallengePresenter = (challenge: ChallengeObject, ctx: ReconcileContext) => Promise<void>;
/** Undoes what a presenter did. */
export type ChallengeCleaner = (challenge: ChallengeObject, ctx: ReconcileContext) => Promise<void>;

/**
 * Takes a challenge down: undoes what was presented (the DNS-01 record; HTTP-01 is answered from
 * the resource, so deleting it is enough), then deletes the resource as read. A cleanup that
 * fails throws, and the Challenge stays for the retry, as cert-manager's finalizer keeps it.
 */
export async function removeChallenge(
  ctx: ReconcileContext,
  challenge: ChallengeObject,
  cleanup: ChallengeCleaner,
): Promise<void> {
  if (challenge.status?.presented === true) await cleanup(challenge, ctx);
  await deleteAsRead(ctx, challenge);
}

/** Settings of the Challenge controller. */
export interface ChallengeControllerSettings {
  readonly issuers: AcmeIssuerSource;
  readonly pollMs: number;
  readonly retryBaseMs: number;
  readonly present: ChallengePresenter;
  readonly cleanup: ChallengeCleaner;
}

/**
 * The Challenge controller: presents the challenge, tells the ACME server to validate it
 * (RFC 8555 §7.5.1), then polls the authorization until the challenge is valid or invalid,
 * keeping the server's problem document in `status.reason`. A failed challenge is cleaned up at
 * once; the Order controller removes all of them when the order is final. A Challenge whose
 * Order is gone is cleaned up and deleted (the Order controller does it as it deletes an Order;
 * this catches those left when that was missed, e.g. across a restart).
 */
export function createChallengeController(settings: ChallengeControllerSettings): Controller {
  const attempts = new Map<string, number>();
  const keyText = (k: ResourceKey): string => `${k.namespace ?? ''}/${k.name}`;
  // When each challenge may next talk to the server (its poll or backoff time): the controller's
  // own status write wakes it again at once, and that must not poll or retry early.
  const notBefore = new Map<string, Date>();
  const waitUntil = (key: ResourceKey, at: Date): ReconcileResult => {
    notBefore.set(keyText(key), at);
    return { requeueAt: at };
  };
  const polls = new PollBackoff(settings.pollMs);
  const forget = (key: ResourceKey): void => {
    attempts.delete(keyText(key));
    notBefore.delete(keyText(key));
    polls.reset(keyText(key));
  };
  return {
    name: 'challenges',
    kind: CHALLENGE,
    watches: [],
    mapToKeys: () => [],
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const challenge = await ctx.store.tryGet<ChallengeObject>(key);
      if (challenge === undefined) {
        forget(key);
        return {};
      }
      if (await ownersGone(ctx, challenge)) {
        ctx.log('info', 'acme challenge garbage-collected: its order is gone', { challenge: keyText(key) });
        await removeChallenge(ctx, challenge, settings.cleanup);
        forget(key);
        return {};
      }
      const now = ctx.now();
      const status = challenge.status ?? {};
      const write = (next: NonNullable<Challenge['status']>): Promise<unknown> =>
        ctx.store.updateStatus({ ...challenge, status: next });
      if (
        status.state === 'valid' ||
        status.state === 'invalid' ||
        status.state === 'expired' ||
        status.state === 'errored'
      ) {
        if (status.presented === true && status.state !== 'valid') {
          await settings.cleanup(challenge, ctx);
          await write({ ...status, presented: false, processing: false }).catch((err: unknown) => {
            if (!isMeshcaError(err, 'NOT_FOUND')) throw err; // removed meanwhile, with its order
          });
        }
        forget(key);
        return {};
      }
      const gate = notBefore.get(keyText(key));
      if (gate !== undefined && gate.getTime() > now.getTime()) return { requeueAt: gate };
      notBefore.delete(keyText(key));
      try {
        if (status.presented !== true) {
          await settings.present(challenge, ctx);
          try {
            await write({
              ...status,
              presented: true,
              processing: true,
              reason: 'presented; waiting for the acme server to validate',
            });
          } catch (err) {
            // Deleted meanwhile (its order was collected or is final): take the record down again.
            if (!isMeshcaError(err, 'NOT_FOUND')) throw err;
            await settings.cleanup(challenge, ctx);
            forget(key);
            return {};
          }
          return { requeueAt: now };
        }
        const issuerResource = await settings.issuers.resource(
          ctx.store,
          challenge.spec.issuerRef,
          challenge.metadata.namespace,
        );
        if (issuerResource === undefined) {
          throw new MeshcaError('ISSUER_INVALID', `${challenge.spec.issuerRef.name} is not an acme issuer`);
        }
        const session = (await settings.issuers.issuer(ctx.store, issuerResource, ctx.now)).session;
        if (status.state === undefined) {
          await session.acceptChallenge(challenge.spec.url);
          await write({ ...status, state: 'pending', reason: 'accepted; the acme server validates' });
          return waitUntil(key, new Date(now.getTime() + polls.next(keyText(key), 'pending')));
        }
        const authz = await session.getAuthorization(challenge.spec.authorizationURL);
        const remote = authz.challenges.find((c) => c.url === challenge.spec.url);
        if (remote === undefined) {
          throw new MeshcaError(
            'UPSTREAM_REJECTED',
            `the authorization ${authz.url} no longer lists challenge ${challenge.spec.url}`,
          );
        }
        if (remote.status === 'valid' || authz.status === 'valid') {
          await write({
            ...status,
            state: 'valid',
            processing: false,
            reason: 'Successfully authorized domain',
          });
          return {};
        }
        if (remote.status === 'invalid' || authz.status === 'invalid') {
          const error = remote.error as { type?: unknown; detail?: unknown } | undefined;
          const detail =
            typeof error?.detail === 'string' ? error.detail.slice(0, 512) : 'no problem document';
          const type = typeof error?.type === 'string' ? ` (${error.type.slice(0, 128)})` : '';
          await write({
            ...status,
            state: 'invalid',
            processing: false,
            reason: `the acme server could not validate ${challenge.spec.type} for ${challenge.spec.dnsName}: ${detail}${type}`,
          });
          return { requeueAt: now };
        }
        if (status.state !== remote.status) await write({ ...status, state: remote.status });
        attempts.delete(keyText(key));
        // Until the server decides: poll with backoff (a challenge nobody answers stays pending).
        return waitUntil(key, new Date(now.getTime() + polls.next(keyText(key), remote.status)));
      } catch (err) {
        const n = (attempts.get(keyText(key)) ?? 0) + 1;
        attempts.set(keyText(key), n);
        const retry = acmeRetry(err, n, now, settings.retryBaseMs);
        if (retry.retryAt === undefined) {
          await write({ ...status, state: 'errored', processing: false, reason: retry.reason });
          return { requeueAt: now };
        }
        if (status.reason !== retry.reason) await write({ ...status, reason: retry.reason });
        return waitUntil(key, retry.retryAt);
      }
    },
  };
}
