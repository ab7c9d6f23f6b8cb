import type { Resource } from '../api/resource.js';
import { isMeshcaError } from '../errors/index.js';
import { EVENT } from './events.js';
import type { Controller } from './runtime/controller.js';

/** How long an Event is kept after it last happened: kube-apiserver's --event-ttl default. */
export const DEFAULT_EVENT_TTL_MS = 3_600_000;

/** When an Event was last seen: lastTimestamp, else firstTimestamp, else when it was stored. */
function lastSeenMs(event: Resource): number {
  for (const v of [event['lastTimestamp'], event['firstTimestamp'], event.metadata.creationTimestamp]) {
    const ms = typeof v === 'string' ? Date.parse(v) : NaN;
    if (Number.isFinite(ms)) return ms;
  }
  return NaN;
}

/**
 * Deletes each Event `ttlMs` after it last happened, as the Kubernetes API server does, so the
 * Events of objects that were deleted (and the old ones of objects that live on) do not grow the
 * store for ever. Each Event is a key of its own on the runtime's timer heap, armed for its expiry.
 */
export function createEventTtlController(options: { ttlMs?: number } = {}): Controller {
  const ttlMs = options.ttlMs ?? DEFAULT_EVENT_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`event TTL must be a positive number of ms, got ${ttlMs}`);
  return {
    name: 'event-ttl',
    kind: EVENT,
    watches: [],
    mapToKeys: () => [],
    async reconcile(key, ctx) {
      const event = await ctx.store.tryGet<Resource>(key);
      if (event === undefined) return {};
      const last = lastSeenMs(event);
      // An Event with no readable time at all is kept one TTL from now, then goes.
      const expiresAt = Number.isFinite(last) ? last + ttlMs : ctx.now().getTime() + ttlMs;
      if (ctx.now().getTime() < expiresAt) return { requeueAt: new Date(expiresAt) };
      try {
        // Only this version: an Event raised again meanwhile has a new lastTimestamp and stays.
        await ctx.store.delete({ ...key, resourceVersion: event.metadata.resourceVersion ?? '' });
      } catch (err) {
        if (isMeshcaError(err, 'NOT_FOUND')) return {};
        if (isMeshcaError(err, 'CONFLICT')) return { requeueAt: ctx.now() };
        throw err;
      }
      return {};
    },
  };
}
