import type { Event } from '../api/event.js';
import type { Resource } from '../api/resource.js';
import { INVOLVED_UID_LABEL } from '../controller/events.js';
import type { Store } from '../store/store.js';
import { age, table } from './format.js';

const EVENT = { apiVersion: 'v1', kind: 'Event' } as const;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

// When the event last happened, for ordering and the Age column.
const lastSeen = (e: Event): number =>
  Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '') || 0;

// The store's resourceVersion grows with each write; opaque in general, so a non-number counts as 0.
const writeOrder = (e: Event): number => Number(e.metadata.resourceVersion ?? '') || 0;

/**
 * The Events about `r`, oldest first: same kind, name and namespace (and uid when both carry one,
 * so events of a deleted namesake are not shown). Events of a cluster-scoped object may live in any
 * namespace. Events labelled with the object's uid (meshca.io/involved-uid, as the controllers
 * write them) are found by label; the namespace is scanned only when there are none.
 */
export async function eventsOf(store: Store, r: Resource): Promise<Event[]> {
  const namespace = r.metadata.namespace === undefined ? {} : { namespace: r.metadata.namespace };
  const uid = r.metadata.uid;
  // The controllers label each Event with its object's uid: a namespace of 10,000 Certificates
  // holds far more events than one object's, so select by label first and scan only when none is labelled.
  let items: Event[] = [];
  if (uid !== undefined && LABEL_VALUE.test(uid)) {
    items = (await store.list<Event>(EVENT, { ...namespace, labelSelector: `${INVOLVED_UID_LABEL}=${uid}` }))
      .items;
  }
  if (items.length === 0) items = (await store.list<Event>(EVENT, namespace)).items;
  return (
    items
      .filter((e) => {
        const o = e.involvedObject;
        if (o.kind !== r.kind || o.name !== r.metadata.name) return false;
        if ((o.namespace ?? undefined) !== r.metadata.namespace) return false;
        return o.uid === undefined || r.metadata.uid === undefined || o.uid === r.metadata.uid;
      })
      // Within one second (timestamps have second precision), the store's write order decides.
      .sort((a, b) => lastSeen(a) - lastSeen(b) || writeOrder(a) - writeOrder(b))
  );
}

/** The Events section kubectl describe prints: `Type Reason Age From Message`, or `<none>`. */
export function renderEvents(events: readonly Event[], now: Date): string {
  if (events.length === 0) return 'Events:  <none>\n';
  const rows = events.map((e) => {
    const seen = lastSeen(e);
    const count = e.count ?? 1;
    const when = seen === 0 ? '<unknown>' : age(new Date(seen), now);
    return [
      e.type,
      e.reason,
      count > 1 ? `${when} (x${count})` : when,
      e.source?.component ?? e.reportingComponent ?? '',
      e.message.replace(/\s*\n\s*/g, ' '),
    ];
  });
  const text = table(['Type', 'Reason', 'Age', 'From', 'Message'], rows);
  return (
    'Events:\n' +
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => `  ${l}`)
      .join('\n') +
    '\n'
  );
}
