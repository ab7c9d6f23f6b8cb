import type { Challenge } from '../../api/acme-challenge.js';
import { controlledBy } from '../owner-reference.js';
import type { Order } from '../../api/acme-order.js';
import type { Resource, ResourceKey } from '../../api/resource.js';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import type { AcmeAuthorization, AcmeOrder } from '../../issuers/acme/acme-answers.js';
import { selectSolver } from '../../issuers/acme/select-solver.js';
import type { Controller, ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { CERTIFICATE_REQUEST, formatTime } from '../certificates/resource-types.js';
import type { AcmeIssuerSource } from './acme-issuer-source.js';
import { PollBackoff, acmeRetry } from './acme-retry.js';
import { CHALLENGE, ORDER, derivedName, orderNameOf, shortHash } from './acme-types.js';
import { removeChallenge, type ChallengeCleaner } from './challenge-controller.js';
import { deleteAsRead, ownersGone, refersTo } from './garbage-collection.js';

/** An Order resource as stored. */
export type OrderObject = Order & Resource;
/** A Challenge resource as stored. */
export type ChallengeObject = Challenge & Resource;

/** Settings of the ACME controllers. */
export interface AcmeControllerSettings {
  readonly issuers: AcmeIssuerSource;
  /** How often a pending or processing order is polled at first, ms (then with backoff, see PollBackoff). */
  readonly pollMs: number;
  /** Base of the retry backoff of failed ACME calls, ms. */
  readonly retryBaseMs: number;
  /** Undoes a presented challenge (DNS-01 records); HTTP-01 needs nothing beyond the resource's deletion. */
  readonly cleanup: ChallengeCleaner;
}

const FINAL = new Set(['valid', 'invalid', 'expired', 'errored']);

/** The Challenges that name an Order of this name as an owner (of any uid). */
async function challengesOf(ctx: ReconcileContext, order: ResourceKey): Promise<ChallengeObject[]> {
  const list = await ctx.store.list<ChallengeObject>(CHALLENGE, {
    ...(order.namespace !== undefined && { namespace: order.namespace }),
  });
  return list.items.filter((c) => refersTo(c, 'Order', order.name));
}

/** Whether this Order owns the Challenge (an earlier Order of the same name, another uid, does not). */
function ownedBy(challenge: ChallengeObject, order: OrderObject | undefined): boolean {
  if (order === undefined) return false;
  const uid = order.metadata.uid;
  return (challenge.metadata.ownerReferences ?? []).some(
    (o) => o.kind === 'Order' && o.name === order.metadata.name && (uid === undefined || o.uid === uid),
  );
}

const problemText = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { type?: unknown; detail?: unknown };
  const detail = typeof e.detail === 'string' ? e.detail.slice(0, 512) : 'no detail';
  return `${detail}${typeof e.type === 'string' ? ` (${e.type.slice(0, 128)})` : ''}`;
};

/** An invalid order's reason names at most this many failed authorizations … */
const MAX_NAMED_AUTHORIZATIONS = 3;
/** … found among at most this many of its authorizations, fetched one at a time. */
const MAX_FETCHED_AUTHORIZATIONS = 16;

/**
 * authorizationProblem() of each invalid authorization of an invalid order (the first few). Best
 * effort: an authorization the server does not answer for is left out, and the order is still
 * marked invalid with what is known.
 */
async function invalidAuthorizations(
  session: { getAuthorization(url: string): Promise<AcmeAuthorization> },
  urls: readonly string[],
): Promise<string[]> {
  const named: string[] = [];
  for (const url of urls.slice(0, MAX_FETCHED_AUTHORIZATIONS)) {
    if (named.length === MAX_NAMED_AUTHORIZATIONS) break;
    const authz = await session.getAuthorization(url).catch(() => undefined);
    if (authz?.status === 'invalid') named.push(authorizationProblem(authz));
  }
  return named;
}

/** What failed in an invalid authorization: its name, the challenge tried, the server's problem document. */
function authorizationProblem(authz: AcmeAuthorization): string {
  const failed = authz.challenges.find((c) => c.status === 'invalid');
  return (
    `authorization for ${authz.identifier.value.slice(0, 256)} is invalid` +
    `${failed === undefined ? '' : ` (${failed.type.slice(0, 32)} challenge)`}: ${problemText(failed?.error) ?? 'no problem document'}`
  );
}

/**
 * The Order controller: creates the RFC 8555 order, a Challenge per pending authorization (the
 * solver chosen by selector), finalizes with the request's CSR when the order is ready, stores
 * the chain when valid, and cleans every Challenge up once the order is final. A Challenge that
 * failed for good (`errored`: nothing was sent to the server) fails the order at once. An Order
 * whose CertificateRequest is gone is garbage-collected with its Challenges (see ownersGone).
 */
export function createOrderController(settings: AcmeControllerSettings): Controller {
  const attempts = new Map<string, number>();
  const keyText = (k: ResourceKey): string => `${k.namespace ?? ''}/${k.name}`;
  // When each order may next talk to the server: its poll or backoff time. The controller's own
  // status write wakes the order again at once (a watch event); without this it would poll or
  // retry the server right away instead of at the time it chose. `poll` marks a poll (which a
  // challenge's progress may bring forward), not a retry (which waits its time).
  const notBefore = new Map<string, { at: Date; poll: boolean }>();
  const waitUntil = (key: ResourceKey, at: Date, poll = false): ReconcileResult => {
    notBefore.set(keyText(key), { at, poll });
    return { requeueAt: at };
  };
  const polls = new PollBackoff(settings.pollMs);
  // Per order, the Challenges the server had validated or refused at its last poll.
  const settledChallenges = new Map<string, string>();
  const forget = (key: ResourceKey): void => {
    attempts.delete(keyText(key));
    notBefore.delete(keyText(key));
    polls.reset(keyText(key));
    settledChallenges.delete(keyText(key));
  };

  const update = async (
    ctx: ReconcileContext,
    order: OrderObject,
    status: NonNullable<Order['status']>,
  ): Promise<void> => {
    await ctx.store.updateStatus({ ...order, status });
  };

  const ensureChallenge = async (
    ctx: ReconcileContext,
    order: OrderObject,
    authz: AcmeAuthorization,
    keyAuthorization: (c: { type: string; url: string; token: string }) => Promise<string>,
    solvers: Parameters<typeof selectSolver>[0],
  ): Promise<void> => {
    const wildcard = authz.wildcard === true;
    const choice = selectSolver(solvers, {
      dnsName: authz.identifier.value,
      wildcard,
      ...(order.metadata.labels !== undefined && { labels: order.metadata.labels }),
    });
    const wantedType = choice.type === 'DNS-01' ? 'dns-01' : 'http-01';
    const offered = authz.challenges.find((c) => c.type === wantedType);
    if (offered?.token === undefined) {
      throw new MeshcaError(
        'UPSTREAM_REJECTED',
        `the acme server offers no ${wantedType} challenge for ${authz.identifier.value}`,
        {
          hint: `offered: ${authz.challenges.map((c) => c.type).join(', ') || 'none'}; choose a solver of an offered type`,
        },
      );
    }
    const name = derivedName(order.metadata.name, shortHash(authz.url));
    const existing = await ctx.store.tryGet<ChallengeObject>({
      ...CHALLENGE,
      ...(order.metadata.namespace !== undefined && { namespace: order.metadata.namespace }),
      name,
    });
    if (existing !== undefined) return;
    const key = await keyAuthorization({ type: offered.type, url: offered.url, token: offered.token });
    try {
      await ctx.store.create({
        apiVersion: CHALLENGE.apiVersion,
        kind: 'Challenge',
        metadata: {
          name,
          ...(order.metadata.namespace !== undefined && { namespace: order.metadata.namespace }),
          ...(order.metadata.labels !== undefined && { labels: order.metadata.labels }),
          ...controlledBy(order),
        },
        spec: {
          url: offered.url,
          authorizationURL: authz.url,
          dnsName: authz.identifier.value,
          ...(wildcard && { wildcard: true }),
          type: choice.type,
          token: offered.token,
          key,
          solver: choice.solver,
          issuerRef: order.spec.issuerRef,
        },
      } as ChallengeObject);
    } catch (err) {
      if (!isMeshcaError(err, 'ALREADY_EXISTS')) throw err;
    }
  };

  return {
    name: 'orders',
    kind: ORDER,
    // A CertificateRequest's changes, its deletion above all, concern its Order (named from it).
    watches: [CHALLENGE, CERTIFICATE_REQUEST],
    mapToKeys(changed: Resource): ResourceKey[] {
      if (changed.apiVersion === CERTIFICATE_REQUEST.apiVersion && changed.kind === CERTIFICATE_REQUEST.kind) {
        const csr = (changed['spec'] as { request?: unknown } | undefined)?.request;
        if (typeof csr !== 'string') return [];
        return [
          {
            ...ORDER,
            ...(changed.metadata.namespace !== undefined && { namespace: changed.metadata.namespace }),
            name: orderNameOf({ metadata: changed.metadata, spec: { request: csr } }),
          },
        ];
      }
      return (changed.metadata.ownerReferences ?? [])
        .filter((o) => o.kind === 'Order')
        .map((o) => ({
          ...ORDER,
          ...(changed.metadata.namespace !== undefined && { namespace: changed.metadata.namespace }),
          name: o.name,
        }));
    },
    async reconcile(key: ResourceKey, ctx: ReconcileContext): Promise<ReconcileResult> {
      const order = await ctx.store.tryGet<OrderObject>(key);
      const referring = await challengesOf(ctx, key);
      // The Challenges of an Order of this name that is gone (deleted by hand, say, and made again
      // by its request since): taken down and deleted, records first.
      for (const challenge of referring) {
        if (!ownedBy(challenge, order) && (await ownersGone(ctx, challenge)))
          await removeChallenge(ctx, challenge, settings.cleanup);
      }
      if (order === undefined) {
        forget(key);
        return {};
      }
      const challenges = referring.filter((c) => ownedBy(c, order));
      if (await ownersGone(ctx, order)) {
        // Its CertificateRequest is gone (deleted with its Certificate, or as a stale revision):
        // nobody will use the certificate, so stop talking to the server, take down what was
        // presented, and delete the Order (a final one too: it holds a whole chain).
        ctx.log('info', 'acme order garbage-collected: its owner is gone', {
          order: keyText(key),
          state: order.status?.state ?? '',
        });
        for (const challenge of challenges) await removeChallenge(ctx, challenge, settings.cleanup);
        await deleteAsRead(ctx, order);
        forget(key);
        return {};
      }
      const now = ctx.now();
      const status = order.status ?? {};
      if (status.state !== undefined && FINAL.has(status.state)) {
        // RFC 8555 leaves presented records to the client: clean up after success and failure.
        for (const challenge of challenges) await removeChallenge(ctx, challenge, settings.cleanup);
        forget(key);
        return {};
      }
      if (status.state === undefined || status.state === 'pending') {
        // A Challenge fails for good (errored) only on a local error, before or instead of asking
        // the server to validate: the authorization would stay pending until it expires (days).
        const errored = challenges.find((c) => c.status?.state === 'errored');
        if (errored !== undefined) {
          const reason =
            `challenge ${errored.metadata.name} (${errored.spec.type} for ${errored.spec.dnsName.slice(0, 256)}) ` +
            `failed and will not be retried: ${errored.status?.reason ?? 'no reason recorded'}`;
          ctx.log('warn', 'acme order failed', { order: keyText(key), error: reason });
          await update(ctx, order, { ...status, state: 'errored', reason, failureTime: formatTime(now) });
          return { requeueAt: now };
        }
      }
      // A challenge the server validated or refused since the last poll: poll now, from the first
      // step of the backoff (a retry's wait stands).
      const settled = challenges
        .filter((c) => c.status?.state === 'valid' || c.status?.state === 'invalid')
        .map((c) => c.metadata.name)
        .sort()
        .join(' ');
      if (settled !== (settledChallenges.get(keyText(key)) ?? '')) {
        settledChallenges.set(keyText(key), settled);
        polls.reset(keyText(key));
        if (notBefore.get(keyText(key))?.poll === true) notBefore.delete(keyText(key));
      }
      const gate = notBefore.get(keyText(key));
      if (gate !== undefined && gate.at.getTime() > now.getTime()) return { requeueAt: gate.at };
      notBefore.delete(keyText(key));
      try {
        const issuerResource = await settings.issuers.resource(
          ctx.store,
          order.spec.issuerRef,
          order.metadata.namespace,
        );
        if (issuerResource === undefined) {
          throw new MeshcaError('ISSUER_INVALID', `${order.spec.issuerRef.name} is not an acme issuer`, {
            hint: 'an Order needs an issuer with spec.acme',
          });
        }
        const issuer = await settings.issuers.issuer(ctx.store, issuerResource, ctx.now);
        const session = issuer.session;
        let remote: AcmeOrder;
        if (status.url === undefined) {
          const names = [...(order.spec.dnsNames ?? [])];
          if (order.spec.commonName !== undefined && !names.includes(order.spec.commonName))
            names.push(order.spec.commonName);
          if (names.length === 0) {
            throw new MeshcaError('INVALID_RESOURCE', 'the order names no DNS name', {
              hint: 'an ACME certificate needs at least one dnsNames entry',
            });
          }
          remote = await session.createOrder(names);
          await update(ctx, order, {
            ...status,
            url: remote.url,
            finalizeURL: remote.finalize,
            state: remote.status,
          });
          return { requeueAt: now };
        }
        remote = await session.getOrder(status.url);
        if (remote.status === 'pending') {
          const authorizations: Record<string, unknown>[] = [];
          for (const url of remote.authorizations) {
            const authz = await session.getAuthorization(url);
            authorizations.push({
              url,
              identifier: authz.identifier.value,
              wildcard: authz.wildcard === true,
              initialState: authz.status,
            });
            if (authz.status === 'invalid') throw new MeshcaError('UPSTREAM_REJECTED', authorizationProblem(authz));
            if (authz.status === 'pending') {
              await ensureChallenge(
                ctx,
                order,
                authz,
                (c) => session.keyAuthorization(c),
                issuer.options.solvers,
              );
            }
          }
          if (JSON.stringify(authorizations) !== JSON.stringify(status.authorizations ?? [])) {
            await update(ctx, order, { ...status, state: 'pending', authorizations });
            polls.reset(keyText(key));
          }
          attempts.delete(keyText(key));
          return waitUntil(key, new Date(now.getTime() + polls.next(keyText(key), 'pending')), true);
        }
        const csrPem = Buffer.from(order.spec.request, 'base64').toString('utf8');
        if (remote.status === 'ready') {
          remote = await session.finalize(remote, csrPem);
        }
        if (remote.status === 'processing' || remote.status === 'ready') {
          if (status.state !== remote.status) await update(ctx, order, { ...status, state: remote.status });
          attempts.delete(keyText(key));
          return waitUntil(key, new Date(now.getTime() + polls.next(keyText(key), remote.status)), true);
        }
        if (remote.status === 'valid') {
          const pem = await session.certificate(remote, csrPem, issuer.options.preferredChain);
          await update(ctx, order, {
            ...status,
            state: 'valid',
            certificate: Buffer.from(pem, 'utf8').toString('base64'),
          });
          attempts.delete(keyText(key));
          return { requeueAt: now };
        }
        // invalid: the server gave up on the order (RFC 8555 §7.1.6), most often because an
        // authorization failed; what failed is on that authorization's challenge, so the reason
        // says it too (the order's own error, where a server sets one, is general).
        const failedAuthorizations = await invalidAuthorizations(session, remote.authorizations);
        await update(ctx, order, {
          ...status,
          state: 'invalid',
          reason: [problemText(remote.error) ?? 'the acme server marked the order invalid', ...failedAuthorizations].join('; '),
          failureTime: formatTime(now),
        });
        return { requeueAt: now };
      } catch (err) {
        const n = (attempts.get(keyText(key)) ?? 0) + 1;
        attempts.set(keyText(key), n);
        const retry = acmeRetry(err, n, now, settings.retryBaseMs);
        ctx.log(
          retry.retryAt === undefined ? 'warn' : 'info',
          retry.retryAt === undefined ? 'acme order failed' : 'acme order step failed, retrying',
          {
            order: keyText(key),
            code: retry.error.code,
            error: retry.reason,
          },
        );
        if (retry.retryAt === undefined) {
          await update(ctx, order, {
            ...status,
            state: 'errored',
            reason: retry.reason,
            failureTime: formatTime(now),
          });
          return { requeueAt: now };
        }
        if (status.reason !== retry.reason) await update(ctx, order, { ...status, reason: retry.reason });
        return waitUntil(key, retry.retryAt);
      }
    },
  };
}
