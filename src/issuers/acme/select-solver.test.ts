import { describe, expect, it } from 'vitest';
import type { AcmeSolver } from '../../api/issuer.js';
import { isMeshcaError } from '../../errors/index.js';
import { selectSolver } from './select-solver.js';

const http: AcmeSolver = { http01: { ingress: {} } };
const dns = (selector?: AcmeSolver['selector']): AcmeSolver => ({
  dns01: { rfc2136: { nameserver: '127.0.0.1:53' } },
  ...(selector !== undefined && { selector }),
});

describe('selectSolver', () => {
  it.each([
    ['a solver without a selector serves any name', [http], 'a.example.test', false, {}, 0],
    [
      'dnsNames beat dnsZones',
      [dns({ dnsZones: ['example.test'] }), dns({ dnsNames: ['a.example.test'] })],
      'a.example.test',
      false,
      {},
      1,
    ],
    [
      'the longest matching zone wins',
      [dns({ dnsZones: ['example.test'] }), dns({ dnsZones: ['apps.example.test'] })],
      'x.apps.example.test',
      false,
      {},
      1,
    ],
    [
      'a zone beats a solver without a selector',
      [http, dns({ dnsZones: ['example.test'] })],
      'a.example.test',
      false,
      {},
      1,
    ],
    [
      'more matched labels win',
      [dns({ matchLabels: { a: '1' } }), dns({ matchLabels: { a: '1', b: '2' } })],
      'a.example.test',
      false,
      { a: '1', b: '2' },
      1,
    ],
    [
      'a wildcard is matched by its *. name in dnsNames',
      [http, dns({ dnsNames: ['*.example.test'] })],
      'example.test',
      true,
      {},
      1,
    ],
    [
      'a zone matches a name case-insensitively',
      [http, dns({ dnsZones: ['Example.TEST.'] })],
      'a.example.test',
      false,
      {},
      1,
    ],
    ['ties go to the first solver listed', [dns(), http], 'a.example.test', false, {}, 0],
  ])('%s', (_name, solvers, dnsName, wildcard, labels, index) => {
    expect(selectSolver(solvers, { dnsName, wildcard, labels }).index).toBe(index);
  });

  it.each([
    [
      'no solver matches',
      [dns({ dnsZones: ['other.test'] })],
      'a.example.test',
      false,
      'no acme solver of the issuer matches a.example.test',
    ],
    [
      'labels do not match',
      [dns({ matchLabels: { a: '1' } })],
      'a.example.test',
      false,
      'no acme solver of the issuer matches',
    ],
    [
      'a wildcard falls to HTTP-01',
      [http],
      'example.test',
      true,
      '*.example.test is a wildcard and needs a DNS-01 solver',
    ],
    ['the solver names no type', [{}], 'a.example.test', false, 'sets neither http01 nor dns01'],
  ])('refuses when %s', (_name, solvers, dnsName, wildcard, message) => {
    try {
      selectSolver(solvers, { dnsName, wildcard });
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err, 'ISSUER_INVALID')).toBe(true);
      expect((err as Error).message).toContain(message);
    }
  });
});
