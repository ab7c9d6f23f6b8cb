import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { parseSpiffeId, parseWorkloadSpiffeId, workloadSpiffeId } from './spiffe-id.js';

const rejects = (f: () => unknown, rule: RegExp): void => {
  try {
    f();
  } catch (err) {
    expect(isMeshcaError(err, 'SPIFFE_ID_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(rule);
    return;
  }
  throw new Error('expected SPIFFE_ID_INVALID');
};

describe('SPIFFE IDs', () => {
  it.each([
    ['spiffe://cluster.local/ns/default/sa/bookinfo', 'cluster.local', '/ns/default/sa/bookinfo'],
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://td_1-2.x/A.b_c-D', 'td_1-2.x', '/A.b_c-D'],
  ])('parses %s into its trust domain and path', (uri, td, path) => {
    const id = parseSpiffeId(uri);
    expect(id.trustDomain).toBe(td);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(uri);
  });

  it.each([
    ['http://cluster.local/ns/a', /must start with "spiffe:\/\/"/],
    ['SPIFFE://cluster.local/ns/a', /scheme must be lowercase/],
    ['spiffe:///ns/a', /trust domain is empty/],
    ['spiffe://Cluster.local/ns/a', /only lowercase letters/],
    ['spiffe://cluster.local:8080/ns/a', /no port/],
    ['spiffe://user@cluster.local/ns/a', /user info/],
    ['spiffe://cluster.local/', /empty segment/],
    ['spiffe://cluster.local/ns//sa', /empty segment/],
    ['spiffe://cluster.local/ns/./sa', /"\." segment/],
    ['spiffe://cluster.local/ns/../sa', /"\.\." segment/],
    ['spiffe://cluster.local/ns/a%20b', /no percent-encoding/],
    ['spiffe://cluster.local/ns/a?x=1', /query or fragment/],
    ['spiffe://cluster.local/ns/a#frag', /query or fragment/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255 bytes/],
    [`spiffe://td/${'a'.repeat(2048)}`, /longer than 2048 bytes/],
  ])('rejects %s, naming the rule it breaks', (uri, rule) => {
    rejects(() => parseSpiffeId(uri), rule);
  });

  it('formats and parses a workload identity', () => {
    const uri = workloadSpiffeId('cluster.local', 'istio-system', 'istiod');
    expect(uri).toBe('spiffe://cluster.local/ns/istio-system/sa/istiod');
    expect(parseWorkloadSpiffeId(uri)).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'istio-system',
      serviceAccount: 'istiod',
    });
  });

  it.each([
    ['spiffe://cluster.local/ns/default', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://cluster.local/ns/default/sa/a/extra', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://cluster.local/namespace/default/sa/a', /\/ns\/<namespace>\/sa\/<service-account>/],
  ])('refuses %s as a workload identity', (uri, rule) => {
    rejects(() => parseWorkloadSpiffeId(uri), rule);
  });

  it('refuses to format a workload identity from an invalid namespace', () => {
    rejects(() => workloadSpiffeId('cluster.local', 'a/b', 'sa'), /namespace/);
    rejects(() => workloadSpiffeId('Cluster', 'ns', 'sa'), /lowercase/);
  });

  const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
  const segChar = fc.constantFrom(
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_'.split(''),
  );
  const td = fc.string({ unit: tdChar, minLength: 1, maxLength: 40 });
  const seg = fc
    .string({ unit: segChar, minLength: 1, maxLength: 20 })
    .filter((s) => s !== '.' && s !== '..');

  it('round-trips every valid workload identity (property)', () => {
    fc.assert(
      fc.property(td, seg, seg, (t, ns, sa) => {
        expect(parseWorkloadSpiffeId(workloadSpiffeId(t, ns, sa))).toEqual({
          trustDomain: t,
          namespace: ns,
          serviceAccount: sa,
        });
      }),
    );
  });

  it('either accepts a string or throws SPIFFE_ID_INVALID, never anything else (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 80 }).map((s) => `spiffe://${s}`),
        (uri) => {
          try {
            const id = parseSpiffeId(uri);
            expect(`spiffe://${id.trustDomain}${id.path}`).toBe(uri);
          } catch (err) {
            expect(isMeshcaError(err, 'SPIFFE_ID_INVALID')).toBe(true);
          }
        },
      ),
    );
  });
});
