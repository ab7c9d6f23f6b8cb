import { describe, expect, it } from 'vitest';
import type { Condition } from './common-schemas.js';
import { getCondition, setCondition } from './conditions.js';

const T0 = Date.parse('2025-03-01T10:00:00.123Z');
const T1 = Date.parse('2025-03-01T11:00:00Z');

describe('setCondition', () => {
  it('adds a condition with the transition time in seconds, as metav1.Time writes it', () => {
    expect(
      setCondition(
        undefined,
        { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting for issuer' },
        T0,
      ),
    ).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Pending',
        message: 'waiting for issuer',
        lastTransitionTime: '2025-03-01T10:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when the status does not change, but updates reason and message', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending' }, T0);
    const second = setCondition(
      first,
      {
        type: 'Ready',
        status: 'False',
        reason: 'Failed',
        message: 'issuer not ready',
        observedGeneration: 2,
      },
      T1,
    );
    expect(second).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Failed',
        message: 'issuer not ready',
        observedGeneration: 2,
        lastTransitionTime: '2025-03-01T10:00:00Z',
      },
    ]);
  });

  it('sets lastTransitionTime to now when the status changes', () => {
    const first = setCondition([], { type: 'Ready', status: 'False' }, T0);
    expect(
      setCondition(first, { type: 'Ready', status: 'True', reason: 'Issued' }, new Date(T1))[0]
        ?.lastTransitionTime,
    ).toBe('2025-03-01T11:00:00Z');
  });

  it('replaces only the condition of the same type, in place, and does not change its input', () => {
    const conditions: Condition[] = [
      { type: 'Approved', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' },
      { type: 'Ready', status: 'False', lastTransitionTime: '2025-01-01T00:00:00Z' },
    ];
    const before = structuredClone(conditions);
    const next = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'Issued' }, T1);
    expect(next.map((c) => c.type)).toEqual(['Approved', 'Ready']);
    expect(next[0]).toBe(conditions[0]);
    expect(conditions).toEqual(before);
  });

  it('stamps now on a condition that had no transition time', () => {
    const next = setCondition([{ type: 'Ready', status: 'True' }], { type: 'Ready', status: 'True' }, T1);
    expect(next[0]?.lastTransitionTime).toBe('2025-03-01T11:00:00Z');
  });
});

describe('getCondition', () => {
  it('finds a condition by type, or undefined', () => {
    const conditions: Condition[] = [{ type: 'Ready', status: 'True' }];
    expect(getCondition(conditions, 'Ready')?.status).toBe('True');
    expect(getCondition(conditions, 'Issuing')).toBeUndefined();
    expect(getCondition(undefined, 'Ready')).toBeUndefined();
  });
});
