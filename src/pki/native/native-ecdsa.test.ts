import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { buildCsr } from '../csr/build-csr.js';
import { parseCsr } from '../csr/certification-request.js';
import { verifyCsr } from '../csr/verify-csr.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { pemDecodeAll, pemEncode } from '../pem/pem.js';
import {
  signWith,
  signatureAlgorithmFor,
  signsNatively,
  SIGNATURE_ALGORITHMS,
} from '../signature/signature-algorithm.js';
import {
  nativeEcdsa,
  nativeEcdsaStatus,
  setNativeEcdsaEnabled,
  type NativeCurve,
  type NativeEcdsa,
  type NativeHash,
} from './native-ecdsa.js';

const CURVES: { curve: NativeCurve; nodeName: string; bytes: number }[] = [
  { curve: 'P-256', nodeName: 'P-256', bytes: 32 },
  { curve: 'P-384', nodeName: 'P-384', bytes: 48 },
];
const HASHES: NativeHash[] = ['sha256', 'sha384', 'sha512'];

const pointOf = (key: KeyObject): Buffer => {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
};
const scalarOf = (key: KeyObject): Buffer => Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url');

function native(): NativeEcdsa {
  const n = nativeEcdsa();
  if (n === undefined) throw new Error(`the native ECDSA path is not active: ${nativeEcdsaStatus().reason}`);
  return n;
}

afterEach(() => setNativeEcdsaEnabled(true));

describe('native ECDSA path', () => {
  it('is built by npm ci and loaded (the signing hot path depends on it)', () => {
    const status = nativeEcdsaStatus();
    expect(status.reason).toMatch(/^loaded from .*meshca_native\.node$/);
    expect(status.active).toBe(true);
  });

  it.each(CURVES)(
    'agrees with node:crypto on valid, altered and foreign signatures ($curve)',
    ({ curve, nodeName }) => {
      const keys = Array.from({ length: 4 }, () => generateKeyPairSync('ec', { namedCurve: nodeName }));
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: keys.length - 1 }),
          fc.integer({ min: 0, max: keys.length - 1 }),
          fc.constantFrom(...HASHES),
          fc.uint8Array({ maxLength: 2048 }),
          fc.option(fc.nat(), { nil: undefined }),
          (signer, checker, hash, message, flip) => {
            const data = Buffer.from(message);
            const signature = sign(hash, data, keys[signer]!.privateKey);
            if (flip !== undefined) {
              const at = flip % signature.length;
              signature[at] = signature[at]! ^ (1 << (flip % 8));
            }
            const publicKey = keys[checker]!.publicKey;
            let expected: boolean;
            try {
              expected = verify(hash, data, publicKey, signature);
            } catch {
              expected = false;
            }
            const got = native().verify(curve, pointOf(publicKey), hash, data, signature);
            expect(got === 'valid').toBe(expected);
            if (flip === undefined && signer === checker) expect(got).toBe('valid');
          },
        ),
        { numRuns: 150 },
      );
    },
  );

  it.each(CURVES)(
    'signs with the CA key so that node:crypto verifies, for every hash ($curve)',
    ({ curve, nodeName }) => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: nodeName });
      const signer = native().createSigner(curve, scalarOf(privateKey), pointOf(publicKey));
      for (const hash of HASHES) {
        const data = Buffer.from(`to be signed with ${hash}`);
        const a = native().sign(signer, hash, data);
        const b = native().sign(signer, hash, data);
        expect(verify(hash, data, publicKey, a)).toBe(true);
        expect(a.equals(b)).toBe(false); // a fresh nonce each time
        expect(verify(hash, Buffer.from('something else'), publicKey, a)).toBe(false);
      }
    },
  );

  it('refuses points that are not on the curve, infinity, compressed or of the wrong length', () => {
    const n = native();
    const good = pointOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    const offCurve = Buffer.from(good);
    offCurve[64] = offCurve[64]! ^ 1;
    const compressed = Buffer.concat([Buffer.from([2 + (good[64]! & 1)]), good.subarray(1, 33)]);
    const bad = [
      offCurve,
      Buffer.from([0]),
      compressed,
      good.subarray(0, 64),
      Buffer.concat([good, Buffer.from([0])]),
      Buffer.alloc(65),
      Buffer.alloc(0),
    ];
    expect(n.pointValid('P-256', good)).toBe(true);
    expect(n.pointValid('P-384', good)).toBe(false);
    for (const point of bad) {
      expect(n.pointValid('P-256', point)).toBe(false);
      expect(n.verify('P-256', point, 'sha256', Buffer.from('x'), Buffer.from([0x30, 0]))).toBe('bad-point');
    }
    // X and Y at the field prime itself are not field elements.
    const p = Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex');
    expect(n.pointValid('P-256', Buffer.concat([Buffer.from([4]), p, p]))).toBe(false);
  });

  it('says a signature is malformed unless it is a strict DER ECDSA-Sig-Value, and never crashes', () => {
    const n = native();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from('data');
    const good = sign('sha256', data, privateKey);
    const point = pointOf(publicKey);
    expect(n.verify('P-256', point, 'sha256', data, good)).toBe('valid');
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, good[1]!]), good.subarray(2)]); // BER length
    const malformed = [
      Buffer.alloc(0),
      Buffer.concat([good, Buffer.from([0])]), // trailing byte
      longForm,
      good.subarray(0, good.length - 1),
      Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x81]), // negative s
      Buffer.alloc(70_000, 0x30),
    ];
    for (const sig of malformed) {
      expect(n.verify('P-256', point, 'sha256', data, sig)).toBe('bad-signature');
      let nodeSays: boolean;
      try {
        nodeSays = verify('sha256', data, publicKey, sig);
      } catch {
        nodeSays = false;
      }
      expect(nodeSays).toBe(false);
    }
    // Well-formed but out of range: r = 0, or s = n.
    const n256 = Buffer.from('00ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
    const zeroR = Buffer.concat([
      Buffer.from([0x30, 3 + 2 + n256.length, 0x02, 0x01, 0x00, 0x02, n256.length]),
      n256,
    ]);
    expect(n.verify('P-256', point, 'sha256', data, zeroR)).toBe('invalid');
    // A large message hashes like any other.
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    expect(n.verify('P-256', point, 'sha256', big, sign('sha256', big, privateKey))).toBe('valid');
  });

  it('loads a private key only when the scalar is in range and matches the public point', () => {
    const n = native();
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const order = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
    expect(() => n.createSigner('P-256', scalarOf(a.privateKey), pointOf(b.publicKey))).toThrow(
      /does not match the public point/,
    );
    expect(() => n.createSigner('P-256', Buffer.alloc(32), pointOf(a.publicKey))).toThrow(/out of range/);
    expect(() => n.createSigner('P-256', order, pointOf(a.publicKey))).toThrow(/out of range/);
    expect(() => n.createSigner('P-256', scalarOf(a.privateKey).subarray(1), pointOf(a.publicKey))).toThrow(
      /wrong length/,
    );
    expect(() => n.createSigner('P-384', scalarOf(a.privateKey), pointOf(a.publicKey))).toThrow(
      /wrong length/,
    );
  });

  it('throws a TypeError, not a crash, on arguments of the wrong kind', () => {
    const n = native();
    const loose = n as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => loose.verify!('P-256', 'not a buffer', 'sha256', Buffer.alloc(1), Buffer.alloc(1))).toThrow(
      TypeError,
    );
    expect(() =>
      loose.verify!('P-521', Buffer.alloc(65), 'sha256', Buffer.alloc(1), Buffer.alloc(1)),
    ).toThrow(TypeError);
    expect(() => loose.verify!('P-256', Buffer.alloc(65), 'md5', Buffer.alloc(1), Buffer.alloc(1))).toThrow(
      TypeError,
    );
    expect(() => loose.sign!({ curve: 'P-256', handle: {} }, 'sha256', Buffer.alloc(1))).toThrow(TypeError);
    expect(() => loose.createSigner!('P-256', new Uint16Array(16), Buffer.alloc(65))).toThrow(TypeError);
  });

  it('gives the same answers with the native path off: CSRs verify, bad points are refused with the same error', () => {
    const key = generatePrivateKey();
    const pem = buildCsr({ key, sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } });
    const der = pemDecodeAll(pem)[0]!.der;
    // Flip a bit in Y of the CSR's point: the same error whichever path reads it.
    const at = der.indexOf(pointOf(key)) + 64;
    const offCurve = Buffer.from(der);
    offCurve[at] = offCurve[at]! ^ 1;
    const errors: string[] = [];
    for (const on of [true, false]) {
      setNativeEcdsaEnabled(on);
      expect(nativeEcdsa() !== undefined).toBe(on);
      const csr = parseCsr(pem);
      verifyCsr(csr);
      expect(csr.keySpec).toEqual({ algorithm: 'ECDSA', size: 256 });
      try {
        parseCsr(pemEncode('CERTIFICATE REQUEST', offCurve));
        errors.push('parsed');
      } catch (err) {
        expect(isMeshcaError(err) && err.code).toBe('KEY_INVALID');
        errors.push((err as Error).message.replace(/:.*/, ''));
      }
    }
    expect(errors).toEqual([
      'the public key of the CSR cannot be read',
      'the public key of the CSR cannot be read',
    ]);
  });

  it('signs through signWith with the same result either way: node:crypto verifies both', () => {
    for (const size of [256, 384]) {
      const key = generatePrivateKey({ algorithm: 'ECDSA', size });
      const algorithm = signatureAlgorithmFor(key);
      const data = Buffer.from('tbs');
      for (const on of [true, false]) {
        setNativeEcdsaEnabled(on);
        expect(verify(algorithm.digest, data, key, signWith(algorithm, key, data))).toBe(true);
      }
    }
    expect(SIGNATURE_ALGORITHMS.filter((a) => a.keyAlgorithm === 'ECDSA').map((a) => a.digest)).toEqual(
      HASHES,
    );
  });

  it('loads a key natively on its second signature: a key that signs once (a CSR) stays on node:crypto', () => {
    const data = Buffer.from('tbs');
    for (const spec of [
      { algorithm: 'ECDSA' as const, size: 256 },
      { algorithm: 'ECDSA' as const, size: 384 },
    ]) {
      const key = generatePrivateKey(spec);
      const algorithm = signatureAlgorithmFor(key);
      signWith(algorithm, key, data);
      expect(signsNatively(key)).toBe(false);
      const second = signWith(algorithm, key, data);
      expect(signsNatively(key)).toBe(true);
      expect(verify(algorithm.digest, data, key, second)).toBe(true);
    }
    const rsa = generatePrivateKey({ algorithm: 'RSA' });
    const rsaAlgorithm = signatureAlgorithmFor(rsa);
    for (let i = 0; i < 3; i++) signWith(rsaAlgorithm, rsa, data);
    expect(signsNatively(rsa)).toBe(false);
  });

  it('works in worker threads beside the main thread, each with its own state', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const messages = Array.from({ length: 200 }, (_, i) => Buffer.from(`message ${i}`));
    const signatures = messages.map((m) => sign('sha256', m, privateKey));
    const point = pointOf(publicKey);
    const moduleUrl = new URL('./native-ecdsa.ts', import.meta.url).href;
    // tsx's ESM hooks, so the worker can import the TypeScript module (as the signing pool does).
    const tsxApi = pathToFileURL(
      createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.tsxApi).then((tsx) => { tsx.register(); return import(workerData.moduleUrl); }).then(({ nativeEcdsa }) => {
        const n = nativeEcdsa();
        let valid = 0;
        for (let r = 0; r < 20; r++)
          for (let i = 0; i < workerData.messages.length; i++)
            if (n.verify('P-256', Buffer.from(workerData.point), 'sha256', Buffer.from(workerData.messages[i]), Buffer.from(workerData.signatures[i])) === 'valid') valid++;
        parentPort.postMessage(valid);
      }, (err) => parentPort.postMessage(String(err)));`;
    const run = (): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const w = new Worker(source, {
          eval: true,
          workerData: { moduleUrl, tsxApi, point, messages, signatures },
        });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const workers = [run(), run()];
    let valid = 0;
    for (let r = 0; r < 20; r++)
      for (let i = 0; i < messages.length; i++)
        if (native().verify('P-256', point, 'sha256', messages[i]!, signatures[i]!) === 'valid') valid++;
    expect(valid).toBe(4000);
    expect(await Promise.all(workers)).toEqual([4000, 4000]);
  });
});
