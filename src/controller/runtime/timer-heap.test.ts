import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap } from './timer-heap.js';

type Op = { op: 'set'; key: number; at: number } | { op: 'delete'; key: number } | { op: 'pop'; now: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key: fc.integer({ min: 0, max: 20 }),
    at: fc.integer({ min: 0, max: 1000 }),
  }),
  fc.record({ op: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ op: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 1000 }) }),
);

describe('TimerHeap', () => {
  it('behaves like a map of key to due time for any sequence of set, delete and popDue', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const heap = new TimerHeap<number>();
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.op === 'set') {
            heap.set(o.key, o.at);
            model.set(o.key, o.at);
          } else if (o.op === 'delete') {
            expect(heap.delete(o.key)).toBe(model.delete(o.key));
          } else {
            const due = heap.popDue(o.now);
            const expected = [...model].filter(([, at]) => at <= o.now);
            expect([...due].sort((a, b) => a - b)).toEqual(expected.map(([k]) => k).sort((a, b) => a - b));
            // Earliest first.
            const times = due.map((k) => model.get(k)!);
            for (const [k] of expected) model.delete(k);
            expect(times).toEqual([...times].sort((a, b) => a - b));
          }
          expect(heap.size).toBe(model.size);
          const min = Math.min(...model.values());
          expect(heap.peek()?.at).toBe(model.size === 0 ? undefined : min);
          for (const [k, at] of model) expect(heap.dueAt(k)).toBe(at);
        }
      }),
    );
  });

  it('keeps one entry per key when a key is rescheduled many times', () => {
    const heap = new TimerHeap<string>();
    for (let i = 0; i < 1000; i++) heap.set('certificate', 1000 - i);
    expect(heap.size).toBe(1);
    expect(heap.peek()).toEqual({ key: 'certificate', at: 1 });
  });

  it('moves a key later when it is rescheduled to a later time', () => {
    const heap = new TimerHeap<string>();
    heap.set('a', 1);
    heap.set('b', 2);
    heap.set('a', 3);
    expect(heap.popDue(2)).toEqual(['b']);
    expect(heap.popDue(3)).toEqual(['a']);
  });

  it('forgets everything on clear', () => {
    const heap = new TimerHeap<string>();
    heap.set('a', 1);
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.popDue(10)).toEqual([]);
    expect(heap.dueAt('a')).toBeUndefined();
  });
});
