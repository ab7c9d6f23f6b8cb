import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isMeshcaError, type ErrorCode } from '../errors/index.js';
import { makeRoot } from '../pki/testing/pki-fixtures.js';
import { readRootCertFile, readTokenFile } from './read-inputs.js';
import { TEST_TOKEN } from './testing/agent-fixture.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshca-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string | Buffer): string => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
mkdirSync(path.join(dir, 'folder'));

async function failure(run: () => Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  try {
    await run();
  } catch (err) {
    if (isMeshcaError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('no error');
}

describe('readTokenFile', () => {
  it('reads a token and drops the trailing newline a mounted file has', async () => {
    expect(await readTokenFile(file('t1', `${TEST_TOKEN}\n`))).toBe(TEST_TOKEN);
  });

  it.each<[string, () => string, ErrorCode, RegExp]>([
    ['a missing file', () => path.join(dir, 'absent'), 'FILE_UNREADABLE', /^cannot read the token file .*absent: ENOENT$/],
    ['a folder', () => path.join(dir, 'folder'), 'FILE_UNREADABLE', /^the token file .*folder is a folder, not a file$/],
    ['an empty file', () => file('empty', '\n'), 'INVALID_INPUT', /^the token file .*empty is empty$/],
    ['an oversized file', () => file('big', 'a'.repeat(64 * 1024 + 1)), 'INPUT_TOO_LARGE', /^the token file .*big is larger than 65536 bytes$/],
    ['an endless device', () => '/dev/zero', 'INPUT_TOO_LARGE', /^the token file \/dev\/zero is larger than 65536 bytes$/],
    ['a token with a header injected after a newline', () => file('inject', `${TEST_TOKEN}\nclusterid: evil`), 'INVALID_INPUT', /does not hold a JWT \(three base64url parts joined by "."\)$/],
    ['a PEM file given by mistake', () => file('pem', makeRoot().certificate.pem), 'INVALID_INPUT', /does not hold a JWT/],
  ])('refuses %s with a precise message', async (_name, make, code, message) => {
    const f = await failure(() => readTokenFile(make()));
    expect(f.code).toBe(code);
    expect(f.message).toMatch(message);
  });

  it('never lets a token with a control character or space through to the authorization header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), async (noise) => {
        const p = file('prop', `${TEST_TOKEN.slice(0, 10)}${noise}${TEST_TOKEN.slice(10)}`);
        try {
          const token = await readTokenFile(p);
          expect(token).toMatch(/^[A-Za-z0-9_.-]+$/);
        } catch (err) {
          expect(isMeshcaError(err, 'INVALID_INPUT')).toBe(true);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('readRootCertFile', () => {
  it('reads a bundle of two roots', async () => {
    const certs = await readRootCertFile(file('roots', makeRoot({ name: 'a' }).certificate.pem + makeRoot({ name: 'b' }).certificate.pem));
    expect(certs.map((c) => c.subject.commonName)).toEqual(['a', 'b']);
  });

  it.each<[string, () => string, ErrorCode, RegExp]>([
    ['a missing file', () => path.join(dir, 'nope.pem'), 'FILE_UNREADABLE', /^cannot read the root certificate file .*nope.pem: ENOENT$/],
    ['an empty file', () => file('empty.pem', ''), 'CERT_INVALID', /^the root certificate file .*empty.pem holds no certificate$/],
    ['a file of text', () => file('text.pem', 'not a certificate\n'), 'CERT_INVALID', /^the root certificate file .*text.pem (holds no certificate|cannot be read)/],
    ['a private key', () => file('key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'CERT_INVALID', /cannot be read: .*"PRIVATE KEY", not "CERTIFICATE"/],
    ['an oversized file', () => file('huge.pem', Buffer.alloc(1024 * 1024 + 1, 0x41)), 'INPUT_TOO_LARGE', /^the root certificate file .*huge.pem is larger than 1048576 bytes$/],
  ])('refuses %s with a precise message', async (_name, make, code, message) => {
    const f = await failure(() => readRootCertFile(make()));
    expect(f.code).toBe(code);
    expect(f.message).toMatch(message);
  });
});
