import { describe, expect, it } from 'vitest';
import { resolveKind } from './kinds.js';
import { issuesOf } from './testing/builders.js';
import { parseResource } from './validate-resource.js';

const event = (fields: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'istio-ca.1a2b3c4d5e6f7a8b', namespace: 'istio-system' },
  involvedObject: {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    name: 'istio-ca',
    namespace: 'istio-system',
    uid: 'u-1',
  },
  reason: 'Issuing',
  message: 'Issuing certificate as Secret does not exist',
  type: 'Normal',
  firstTimestamp: '2026-11-22T12:00:00Z',
  lastTimestamp: '2026-11-22T12:00:00Z',
  count: 1,
  source: { component: 'meshca' },
  ...fields,
});

describe('Event', () => {
  it('accepts the Event a meshca controller writes', () => {
    expect(issuesOf(event({}))).toEqual([]);
    expect(parseResource(event({})).kind).toBe('Event');
  });

  it('accepts what kubectl get events -o yaml prints, with fractional timestamps and the newer fields', () => {
    expect(
      issuesOf(
        event({
          eventTime: '2026-11-22T12:00:00.123456Z',
          reportingComponent: 'cert-manager-certificates-issuing',
          reportingInstance: 'cert-manager-7d9f',
          lastTimestamp: '2026-11-22T13:00:00+01:00',
        }),
      ),
    ).toEqual([]);
  });

  it('is named event, events or ev on the command line, and is namespaced', () => {
    for (const name of ['event', 'events', 'ev', 'Events']) expect(resolveKind(name).kind).toBe('Event');
    expect(resolveKind('ev').namespaced).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['a type other than Normal or Warning', { type: 'Error' }, ['type: must be one of "Normal", "Warning"']],
    ['an empty reason', { reason: '' }, ['reason: must not be empty']],
    ['a reason over 128 characters', { reason: 'R'.repeat(129) }, ['reason: must be at most 128 characters']],
    [
      'a message over 32 KiB',
      { message: 'm'.repeat(32 * 1024 + 1) },
      ['message: must be at most 32768 characters'],
    ],
    [
      'a timestamp that is not RFC 3339',
      { firstTimestamp: 'yesterday' },
      ['firstTimestamp: must be an RFC 3339 timestamp such as "2026-01-02T15:04:05Z", got "yesterday"'],
    ],
    ['a count of zero', { count: 0 }, ['count: must be at least 1']],
    [
      'an involvedObject without a name',
      { involvedObject: { apiVersion: 'v1', kind: 'Secret' } },
      ['involvedObject.name: is required (a string)'],
    ],
    [
      'an unknown field in source',
      { source: { component: 'meshca', hots: 'x' } },
      ['source.hots: unknown field; did you mean "host"?'],
    ],
  ])('rejects %s', (_what, fields, expected) => {
    expect(issuesOf(event(fields))).toEqual(expected);
  });
});
