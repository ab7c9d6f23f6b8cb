import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { parseHostPort } from './host-port.js';

describe('parseHostPort', () => {
  it.each([
    ['istiod.istio-system.svc:15012', 'istiod.istio-system.svc', 15012],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['[::1]:65535', '::1', 65535],
    ['Meshca-CA.example:443', 'Meshca-CA.example', 443],
  ])('reads %s', (value, host, port) => {
    expect(parseHostPort('--ca-address', value)).toEqual({ host, port });
  });

  it.each([
    ['no port', 'istiod'],
    ['port 0', 'istiod:0'],
    ['a port over 65535', 'istiod:65536'],
    ['a URL', 'https://istiod:15012'],
    ['an unbracketed IPv6 address', '::1:15012'],
    ['a space', 'istiod :15012'],
    ['an empty value', ''],
    ['a path', 'istiod:15012/x'],
  ])('refuses %s with a usage error naming the flag', (_name, value) => {
    try {
      parseHostPort('--ca-address', value);
      expect.unreachable();
    } catch (err) {
      expect(isMeshcaError(err, 'USAGE')).toBe(true);
      expect((err as Error).message).toBe(`--ca-address must be HOST:PORT with a port from 1 to 65535, got ${JSON.stringify(value)}`);
    }
  });

  it('shortens a hostile oversized value in its message', () => {
    expect(() => parseHostPort('--ca-address', 'a'.repeat(100_000))).toThrow(/got "a{80}…"$/);
  });

  it('either parses to a host and a port in range or throws a usage error, for any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (value) => {
        try {
          const { host, port } = parseHostPort('--x', value);
          expect(port).toBeGreaterThanOrEqual(1);
          expect(port).toBeLessThanOrEqual(65535);
          expect(host.length).toBeGreaterThan(0);
        } catch (err) {
          expect(isMeshcaError(err, 'USAGE')).toBe(true);
        }
      }),
    );
  });
});
