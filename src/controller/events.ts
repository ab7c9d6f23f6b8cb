import { createHash } from 'node:crypto';
import type { Resource, ResourceType } from '../api/resource.js';
import { isMeshcaError } from '../errors/index.js';
import type { Store, WriteOp } from '../store/store.js';

/** core/v1 Event. */
export const EVENT: ResourceType = { apiVersion: 'v1', kind: 'Event' };
/** Events kept per involved object; older ones are pruned. */
export const MAX_EVENTS_PER_OBJECT = 50;
/** The label tying an Event to the uid of its object, so pruning lists only that object's events. */
export const INVOLVED_UID_LABEL = 'meshca.io/involved-uid';

/** What happened, as cert-manager reports it (`Issuing`, `Generated`, `Requested`, `Issued`, `Failed` …). */
export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

// How many new events for one object may be written before the recorder counts them in the store.
const PRUNE_EVERY = 10;

const rfc3339 = (at: Date): string =>
  new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * Writes core/v1 Events about resources. Like the API server's event aggregation, an event equal
 * to an earlier one (same object, reason, message) raises that one's count instead of adding
 * another: its name is derived from those fields. At most MAX_EVENTS_PER_OBJECT are kept per object.
 */
export class EventRecorder {
  readonly #sincePrune = new Map<string, number>();

  /**
   * The write that records `event` about `involved`: a create, or an update raising the count of
   * the same earlier event. Put it in the transaction of the change it reports.
   */
  async ops(store: Store, involved: Resource, event: EventInput, now: Date): Promise<WriteOp[]> {
    const namespace = involved.metadata.namespace ?? 'default';
    const uid = involved.metadata.uid ?? `${involved.kind}.${involved.metadata.name}`;
    const digest = createHash('sha256')
      .update(`${uid}\n${event.reason}\n${event.message}`)
      .digest('hex')
      .slice(0, 16);
    // Cut so "<prefix>.<digest>" stays a valid name: a cut that ends in "." or "-" would make
    // ".." or "-." (invalid), and the store would refuse every event about that object.
    const name = `${involved.metadata.name.slice(0, 236).replace(/[^a-z0-9]+$/, '')}.${digest}`;
    const at = rfc3339(now);
    const existing = await store.tryGet<Resource>({ ...EVENT, namespace, name });
    if (existing !== undefined) {
      const count = typeof existing['count'] === 'number' ? existing['count'] : 1;
      const updated: Resource = { ...existing, count: count + 1, lastTimestamp: at };
      return [{ op: 'update', resource: updated }];
    }
    const created: Resource = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name,
        namespace,
        ...(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(uid) && {
          labels: { [INVOLVED_UID_LABEL]: uid },
        }),
      },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        namespace,
        ...(involved.metadata.uid !== undefined && { uid: involved.metadata.uid }),
      },
      reason: event.reason,
      message: event.message,
      type: event.type,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
      source: { component: 'meshca' },
    };
    this.#sincePrune.set(uid, (this.#sincePrune.get(uid) ?? 0) + 1);
    return [{ op: 'create', resource: created }];
  }

  /** Records an event on its own; then prunes the object's events when many were added. */
  async record(store: Store, involved: Resource, event: EventInput, now: Date): Promise<void> {
    try {
      await store.transaction(await this.ops(store, involved, event, now));
    } catch (err) {
      // Two writers raced on the same event: the other one counted it.
      if (!isMeshcaError(err, 'ALREADY_EXISTS') && !isMeshcaError(err, 'NOT_FOUND')) throw err;
    }
    await this.pruneIfDue(store, involved);
  }

  /**
   * Deletes the oldest events of `involved` beyond MAX_EVENTS_PER_OBJECT, once every few new
   * events (counting means listing, which is not free with many objects in a namespace).
   */
  async pruneIfDue(store: Store, involved: Resource): Promise<void> {
    const uid = involved.metadata.uid;
    if (uid === undefined || (this.#sincePrune.get(uid) ?? 0) < PRUNE_EVERY) return;
    this.#sincePrune.set(uid, 0);
    await pruneEvents(store, involved.metadata.namespace ?? 'default', uid);
  }
}

/** Deletes the oldest events (by lastTimestamp) of the object with this uid beyond MAX_EVENTS_PER_OBJECT. */
export async function pruneEvents(store: Store, namespace: string, uid: string): Promise<number> {
  const { items } = await store.list<Resource>(EVENT, {
    namespace,
    labelSelector: `${INVOLVED_UID_LABEL}=${uid}`,
  });
  if (items.length <= MAX_EVENTS_PER_OBJECT) return 0;
  const stamp = (e: Resource): string => (typeof e['lastTimestamp'] === 'string' ? e['lastTimestamp'] : '');
  const oldest = [...items]
    .sort((a, b) => stamp(a).localeCompare(stamp(b)))
    .slice(0, items.length - MAX_EVENTS_PER_OBJECT);
  let deleted = 0;
  for (const event of oldest) {
    try {
      await store.delete({ ...EVENT, namespace, name: event.metadata.name });
      deleted++;
    } catch (err) {
      if (!isMeshcaError(err, 'NOT_FOUND')) throw err;
    }
  }
  return deleted;
}
