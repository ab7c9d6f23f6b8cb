import type { Condition } from './common-schemas.js';

/** The change to record: a condition without its transition time, which setCondition manages. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

// metav1.Time has second precision; write it the way the API server does.
const rfc3339 = (now: Date | number): string => new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Returns the conditions with `update` applied (a new array; the input is not changed). The
 * condition keeps its lastTransitionTime when its status does not change, and gets `now` when it does.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date | number,
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === update.type);
  const lastTransitionTime =
    existing !== undefined && existing.status === update.status && existing.lastTransitionTime !== undefined
      ? existing.lastTransitionTime
      : rfc3339(now);
  const next: Condition = { ...update, lastTransitionTime };
  if (existing === undefined) return [...list, next];
  return list.map((c) => (c === existing ? next : c));
}

/** The condition of this type, or undefined. */
export function getCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
