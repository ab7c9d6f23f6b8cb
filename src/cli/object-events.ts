import type { Event } from '../api/event.js';
import type { Resource } from '../api/resource.js';
import type { Store } from '../store/store.js';
import { age, table } from './format.js';

const EVENT = { apiVersion: 'v1', kind: 'Event' } as const;

// When the event last happened, for ordering and the Age column.
const lastSeen = (e: Event): number =>
  Date.parse(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '') || 0;

/**
 * The Events about `r`, oldest first: same kind, name and namespace (and uid when both carry one,
 * so events of a deleted namesake are not shown). Events of a cluster-scoped object may live in any namespace.
 */
export async function eventsOf(store: Store, r: Resource): Promise<Event[]> {
  const list = await store.list<Event>(
    EVENT,
    r.metadata.namespace === undefined ? {} : { namespace: r.metadata.namespace },
  );
  return list.items
    .filter((e) => {
      const o = e.involvedObject;
      if (o.kind !== r.kind || o.name !== r.metadata.name) return false;
      if ((o.namespace ?? undefined) !== r.metadata.namespace) return false;
      return o.uid === undefined || r.metadata.uid === undefined || o.uid === r.metadata.uid;
    })
    .sort((a, b) => lastSeen(a) - lastSeen(b));
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
