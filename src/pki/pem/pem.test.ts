import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { pemDecodeAll, pemEncode } from './pem.js';

describe('PEM', () => {
  it('round-trips any bytes under any label (property)', () => {
    const label = fc.constantFrom('CERTIFICATE', 'PRIVATE KEY', 'CERTIFICATE REQUEST', 'EC PRIVATE KEY');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(label, fc.uint8Array({ minLength: 1, maxLength: 300 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (blocks) => {
          const text = blocks.map(([l, b]) => pemEncode(l, Buffer.from(b))).join('explanatory text\n');
          expect(pemDecodeAll(text)).toEqual(blocks.map(([l, b]) => ({ label: l, der: Buffer.from(b) })));
        },
      ),
    );
  });

  it('writes 64-character lines as RFC 7468 asks', () => {
    const lines = pemEncode('CERTIFICATE', Buffer.alloc(100, 0xab)).split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines[1]).toHaveLength(64);
    expect(lines.at(-2)).toBe('-----END CERTIFICATE-----');
  });

  it('reads a body whose lines are split and indented with any whitespace', () => {
    const der = Buffer.from([1, 2, 3, 4, 5, 6]);
    const b64 = der.toString('base64');
    const text = `-----BEGIN CERTIFICATE-----\n  ${b64.slice(0, 4)}\t\n ${b64.slice(4)}  \n-----END CERTIFICATE-----\n`;
    expect(pemDecodeAll(text)[0]?.der).toEqual(der);
  });

  it('reads CRLF line ends', () => {
    const text = pemEncode('CERTIFICATE', Buffer.from([1, 2, 3])).replace(/\n/g, '\r\n');
    expect(pemDecodeAll(text)[0]?.der).toEqual(Buffer.from([1, 2, 3]));
  });

  it.each([
    ['no block at all', 'hello', /no PEM block found/],
    [
      'a block with no END line',
      '-----BEGIN CERTIFICATE-----\nAAAA\n',
      /has no "-----END CERTIFICATE-----" line/,
    ],
    [
      'mismatched BEGIN and END labels',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n',
      /has no "-----END CERTIFICATE-----" line/,
    ],
    ['broken base64', '-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n', /not valid base64/],
    ['truncated base64', '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n', /not valid base64/],
    ['an empty block', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', /is empty/],
    // A CSR is hostile input: the former single pattern backtracked quadratically on this
    // (63,000 spaces took 5 s, this one minutes); the check now strips whitespace first.
    [
      'a long run of whitespace before a bad character',
      `-----BEGIN CERTIFICATE REQUEST-----\n${' \n'.repeat(150_000)}!\n-----END CERTIFICATE REQUEST-----\n`,
      /not valid base64/,
    ],
    [
      'padding in the middle',
      '-----BEGIN CERTIFICATE-----\nAA==\nAAAA\n-----END CERTIFICATE-----\n',
      /not valid base64/,
    ],
    [
      'legacy encrypted headers',
      '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n',
      /has headers/,
    ],
  ])('refuses %s with PEM_INVALID', (_name, text, message) => {
    try {
      pemDecodeAll(text);
      throw new Error('expected PEM_INVALID');
    } catch (err) {
      expect(isMeshcaError(err, 'PEM_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('refuses a label with a hyphen', () => {
    expect(() => pemEncode('X-Y', Buffer.from([1]))).toThrow(/not a PEM label/);
  });
});
