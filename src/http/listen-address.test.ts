import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_ADDRESS, formatListenAddress, parseListenAddress } from './listen-address.js';

describe('parseListenAddress', () => {
  it.each([
    [DEFAULT_HTTP_ADDRESS, { host: '0.0.0.0', port: 9402 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    [':9402', { host: '0.0.0.0', port: 9402 }],
    ['[::]:9402', { host: '::', port: 9402 }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
    ['localhost:8080', { host: 'localhost', port: 8080 }],
    ['meshca.istio-system.svc:9402', { host: 'meshca.istio-system.svc', port: 9402 }],
  ])('reads %s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it.each([
    ['9402', 'has no port'],
    ['0.0.0.0', 'has no port'],
    ['0.0.0.0:', 'has a port that is not a number from 0 to 65535'],
    ['0.0.0.0:http', 'has a port that is not a number from 0 to 65535'],
    ['0.0.0.0:-1', 'has a port that is not a number from 0 to 65535'],
    ['0.0.0.0:65536', 'has a port above 65535'],
    ['0.0.0.0:123456', 'has a port that is not a number from 0 to 65535'],
    ['::1:9402', 'has an IPv6 address without brackets'],
    ['[::1:9402', 'has a [ without a matching ]:port'],
    ['[::1]9402', 'has a [ without a matching ]:port'],
    ['[example.com]:9402', 'has brackets around something that is not an IPv6 address'],
    ['bad host!:9402', 'has a host that is neither an IP address nor a DNS name'],
    ['-lead.example:9402', 'has a host that is neither an IP address nor a DNS name'],
    [`${'a'.repeat(400)}:1`, 'is too long'],
  ])('refuses %j because it %s', (text, why) => {
    expect(() => parseListenAddress(text)).toThrow(`${why}`);
    try {
      parseListenAddress(text);
    } catch (err) {
      expect(err).toMatchObject({
        code: 'INVALID_INPUT',
        hint: 'write host:port, [ipv6]:port or :port, e.g. 0.0.0.0:9402',
      });
    }
  });

  it('reads back what formatListenAddress writes, for any IP address and port (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (host, port) => {
        expect(parseListenAddress(formatListenAddress({ host, port }))).toEqual({ host, port });
      }),
    );
  });

  it('never throws anything but its own error on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        try {
          parseListenAddress(text);
        } catch (err) {
          expect(err).toMatchObject({ code: 'INVALID_INPUT' });
        }
      }),
    );
  });
});
