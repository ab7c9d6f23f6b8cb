import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../errors/index.js';
import { hostNameProblem, parseHostPort } from './host-port.js';

const refusal = (value: string): string => {
  try {
    parseHostPort('--ca-address', value);
  } catch (err) {
    expect(isMeshcaError(err, 'USAGE')).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
};

describe('parseHostPort', () => {
  it.each([
    ['istiod.istio-system.svc:15012', 'istiod.istio-system.svc', 15012],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['255.255.255.255:80', '255.255.255.255', 80],
    ['[::1]:65535', '::1', 65535],
    ['[::ffff:1.2.3.4]:80', '::ffff:1.2.3.4', 80],
    ['[2001:db8::7]:15012', '2001:db8::7', 15012],
    ['Meshca-CA.example:443', 'Meshca-CA.example', 443],
    ['localhost:15014', 'localhost', 15014],
    ['1password.example:443', '1password.example', 443],
    [`${'a'.repeat(63)}.example:1`, `${'a'.repeat(63)}.example`, 1],
  ])('reads %s', (value, host, port) => {
    expect(parseHostPort('--ca-address', value)).toEqual({ host, port });
  });

  it.each([
    ['no port', 'istiod', 'the port is missing'],
    ['an empty port', 'istiod:', 'the port is missing'],
    ['port 0', 'istiod:0', 'the port must be a number from 1 to 65535 without leading zeros, got "0"'],
    ['a port over 65535', 'istiod:65536', 'the port must be a number from 1 to 65535 without leading zeros, got "65536"'],
    ['a port with a leading zero', 'istiod:080', 'the port must be a number from 1 to 65535 without leading zeros, got "080"'],
    ['a path after the port', 'istiod:15012/x', 'the port must be a number from 1 to 65535 without leading zeros, got "15012/x"'],
    ['a URL', 'https://istiod:15012', 'it is a URL; give the host and port only'],
    ['an unbracketed IPv6 address', '::1:15012', 'an IPv6 address must be in brackets, as [::1]:15012'],
    ['two colons', 'a:b:15012', 'the host has a ":" in it'],
    ['an IPv4 address in brackets', '[1.2.3.4]:80', '"1.2.3.4" in brackets is not an IPv6 address (write an IPv4 address without brackets)'],
    ['a bracketed run of colons', '[:::::]:1', '":::::" in brackets is not an IPv6 address'],
    ['a bracketed name', '[istiod]:1', '"istiod" in brackets is not an IPv6 address'],
    ['an unclosed bracket', '[::1:80', 'the "[" of an IPv6 address has no closing "]"'],
    ['brackets without a port', '[::1]', 'the port is missing'],
    ['text between "]" and the port', '[::1]x:80', '"x:80" after "]" is not ":PORT"'],
    ['five numbers', '1.2.3.4.5:80', 'the host "1.2.3.4.5" is not an IPv4 address (four numbers from 0 to 255 without leading zeros, as 10.0.0.1), and a DNS name cannot end in a number'],
    ['three numbers', '1.2.3:80', 'the host "1.2.3" is not an IPv4 address'],
    ['a number over 255', '1.2.3.256:80', 'the host "1.2.3.256" is not an IPv4 address'],
    ['an octet with a leading zero', '010.0.0.1:80', 'the host "010.0.0.1" is not an IPv4 address'],
    ['a bare number', '12345:80', 'the host "12345" is not an IPv4 address'],
    ['an empty host', ':15012', 'the host is empty'],
    ['a space', 'istiod :15012', 'the host "istiod " is not a DNS name: " " is not allowed (only letters, digits, "-" and ".")'],
    ['an underscore', 'my_ca:15012', 'the host "my_ca" is not a DNS name: "_" is not allowed'],
    ['two dots in a row', 'istiod..svc:15012', 'the host "istiod..svc" is not a DNS name: it has an empty label (a dot at the start or end, or two in a row)'],
    ['a trailing dot', 'istiod.:15012', 'it has an empty label'],
    ['a leading dot', '.istiod:15012', 'it has an empty label'],
    ['a label ending in "-"', 'istiod-.svc:15012', 'the host "istiod-.svc" is not a DNS name: the label "istiod-" starts or ends with "-"'],
    ['a label starting with "-"', '-istiod:15012', 'the label "-istiod" starts or ends with "-"'],
    ['a label over 63 characters', `${'a'.repeat(64)}.example:1`, `the label "${'a'.repeat(64)}" is longer than 63 characters`],
    ['a name over 253 characters', `${`${'a'.repeat(50)}.`.repeat(5)}example:1`, 'is longer than 253 characters'],
    ['an empty value', '', 'the port is missing'],
  ])('refuses %s with a usage error naming the flag, the value and the problem', (_name, value, problem) => {
    const message = refusal(value);
    expect(message.startsWith(`--ca-address must be HOST:PORT, got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)}: `)).toBe(true);
    expect(message).toContain(problem);
  });

  it('shortens a hostile oversized value in its message', () => {
    expect(refusal('a'.repeat(100_000))).toBe(`--ca-address must be HOST:PORT, got "${'a'.repeat(80)}…": the port is missing`);
    expect(refusal(`${'a'.repeat(100_000)}:1`)).toMatch(/^--ca-address must be HOST:PORT, got "a{80}…": the host "a{80}…" is longer than 253 characters$/);
  });

  it('either parses to a DNS name, an IPv4 or an IPv6 address and a port in range, or throws a usage error, for any string', () => {
    const dnsName = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
    const hostish = fc.stringMatching(/^(?:\[[0-9a-fA-F:.%]{0,12}\]|[0-9a-z.:_-]{0,16}):[0-9]{0,6}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 60 }), hostish), (value) => {
        let parsed;
        try {
          parsed = parseHostPort('--x', value);
        } catch (err) {
          expect(isMeshcaError(err, 'USAGE')).toBe(true);
          return;
        }
        const { host, port } = parsed;
        expect(port).toBeGreaterThanOrEqual(1);
        expect(port).toBeLessThanOrEqual(65535);
        if (value.startsWith('[')) expect(isIPv6(host)).toBe(true);
        else expect(isIPv4(host) || (dnsName.test(host) && !/(^|\.)\d+$/.test(host))).toBe(true);
      }),
    );
  });
});

describe('hostNameProblem', () => {
  it.each(['istiod', 'meshca-ca.test', '10.0.0.1', 'a1.b2'])('accepts %s', (host) => {
    expect(hostNameProblem(host)).toBeUndefined();
  });
  it.each(['-', '...', 'a_b', '1.2.3.4.5', '::1', ''])('refuses %s', (host) => {
    expect(hostNameProblem(host)).toBeDefined();
  });
});
