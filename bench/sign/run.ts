/**
 * The CSR hot path, one thread: CSR PEM → parsed → signature verified → leaf signed → PEM, with
 * an ECDSA P-256 CA key. Printed as a fraction of the raw node:crypto bound measured in this same
 * run (one P-256 verify plus one P-256 sign per operation), with p50/p99 latency and peak RSS.
 * The @peculiar/x509 WebCrypto path is measured too, as a reference point.
 *
 *   npm run bench:sign                 # default 3 s per measurement
 *   BENCH_SECONDS=1 npm run bench:sign
 */
import 'reflect-metadata'; // @peculiar/x509 (the reference path) needs it
import { createPublicKey, sign, verify, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  buildCsr,
  generatePrivateKey,
  issueCertificate,
  nativeEcdsaStatus,
  parseCsr,
  setNativeEcdsaEnabled,
  templateFromCsr,
  verifyCsr,
  workloadSpiffeId,
  type Certificate,
} from '../../src/pki/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '3');
const ROUNDS = 3;
const now = new Date();

interface Measurement {
  opsPerSecond: number;
  latenciesUs: number[];
}

function measure(durationMs: number, op: (i: number) => void): Measurement {
  const latenciesUs: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(durationMs)) * 1_000_000n;
  let i = 0;
  let t = start;
  while (t < deadline) {
    op(i++);
    const after = process.hrtime.bigint();
    latenciesUs.push(Number(after - t) / 1000);
    t = after;
  }
  return { opsPerSecond: i / (Number(t - start) / 1e9), latenciesUs };
}

async function measureAsync(durationMs: number, op: (i: number) => Promise<void>): Promise<Measurement> {
  const latenciesUs: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(durationMs)) * 1_000_000n;
  let i = 0;
  let t = start;
  while (t < deadline) {
    await op(i++);
    const after = process.hrtime.bigint();
    latenciesUs.push(Number(after - t) / 1000);
    t = after;
  }
  return { opsPerSecond: i / (Number(t - start) / 1e9), latenciesUs };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const best = (ms: Measurement[]): Measurement =>
  ms.reduce((a, b) => (b.opsPerSecond > a.opsPerSecond ? b : a));

// The CA: a P-256 root and a P-256 intermediate that signs every leaf.
const rootKey = generatePrivateKey();
const root = issueCertificate(
  { publicKey: rootKey, subject: { commonName: 'bench root' }, isCA: true, lifetimeMs: 365 * 86_400_000 },
  { selfSigned: rootKey },
  { now },
);
const caKey = generatePrivateKey();
const ca: Certificate = issueCertificate(
  {
    publicKey: caKey,
    subject: { commonName: 'istio-intermediate-ca.cluster.local' },
    isCA: true,
    lifetimeMs: 30 * 86_400_000,
  },
  { certificate: root, key: rootKey },
  { now },
);

// Distinct workload CSRs, as sidecars send them.
const CSR_COUNT = 256;
const csrs = Array.from({ length: CSR_COUNT }, (_, i) =>
  buildCsr({
    key: generatePrivateKey(),
    sans: { uris: [workloadSpiffeId('cluster.local', `ns-${i % 16}`, `sa-${i}`)] },
  }),
);

// Raw bound: one P-256 verify (of a CSR-sized message) plus one P-256 sign (of a TBS-sized message).
const sampleKey = generatePrivateKey();
const samplePub = createPublicKey(sampleKey);
const csrBody = Buffer.alloc(300, 7);
const tbsBody = Buffer.alloc(450, 9);
const csrSig = sign('sha256', csrBody, sampleKey);
const rawOp = (): void => {
  if (!verify('sha256', csrBody, samplePub, csrSig)) throw new Error('raw verify failed');
  sign('sha256', tbsBody, caKey);
};

// node:crypto with a fresh key: what node:crypto itself needs for a CSR key it has never seen:
// import the point (OpenSSL checks it is on the curve) and a first verify (which converts the key
// for the provider), plus the sign. Every CSR carries a new key; meshca's native path
// (src/pki/native) does the same work without the import and the conversion.
const freshKeys = csrs.map((pem) => parseCsr(pem).publicKey.export({ format: 'jwk' }));
const freshOp = (i: number): void => {
  const key = createPublicKey({ key: freshKeys[i % CSR_COUNT] ?? {}, format: 'jwk' });
  verify('sha256', csrBody, key, csrSig); // a wrong signature costs the same as a right one
  sign('sha256', tbsBody, caKey);
};

let sink = 0;
const meshcaOp = (i: number): void => {
  const csr = parseCsr(csrs[i % CSR_COUNT] ?? '');
  verifyCsr(csr);
  const leaf = issueCertificate(
    templateFromCsr(csr, { lifetimeMs: 3_600_000, extKeyUsages: ['serverAuth', 'clientAuth'] }),
    { certificate: ca, key: caKey },
    { now },
  );
  sink += leaf.pem.length;
};

// meshca with the native path turned off (MESHCA_NATIVE=off, or no compiler at install).
const meshcaNodeOp = (i: number): void => {
  setNativeEcdsaEnabled(false);
  try {
    meshcaOp(i);
  } finally {
    setNativeEcdsaEnabled(true);
  }
};

// Reference: the generic @peculiar/x509 WebCrypto path doing the same work.
x509.cryptoProvider.set(webcrypto);
const ecdsa = { name: 'ECDSA', hash: 'SHA-256' };
const caCryptoKey = await webcrypto.subtle.importKey(
  'pkcs8',
  caKey.export({ type: 'pkcs8', format: 'der' }),
  { name: 'ECDSA', namedCurve: 'P-256' },
  false,
  ['sign'],
);
const caX509 = new x509.X509Certificate(ca.der);
const peculiarOp = async (i: number): Promise<void> => {
  const req = new x509.Pkcs10CertificateRequest(csrs[i % CSR_COUNT] ?? '');
  if (!(await req.verify())) throw new Error('CSR signature did not verify');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex'),
    issuer: caX509.subject,
    subject: '',
    notBefore: now,
    notAfter: new Date(now.getTime() + 3_600_000),
    signingAlgorithm: ecdsa,
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- typed with the DOM CryptoKey, which a Node project does not load
    publicKey: await req.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']),
    signingKey: caCryptoKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...req.extensions.filter((e: x509.Extension) => e.type === '2.5.29.17'),
    ],
  });
  sink += cert.toString('pem').length;
};

// Warm up, then alternate the measurements so both see the same machine state.
measure(300, rawOp);
measure(300, meshcaOp);
measure(300, freshOp);
measure(300, meshcaNodeOp);
await measureAsync(300, peculiarOp);
const raw: Measurement[] = [];
const ours: Measurement[] = [];
const fresh: Measurement[] = [];
const peculiar: Measurement[] = [];
const oursNode: Measurement[] = [];
for (let r = 0; r < ROUNDS; r++) {
  raw.push(measure((SECONDS * 1000) / ROUNDS, rawOp));
  ours.push(measure((SECONDS * 1000) / ROUNDS, meshcaOp));
  fresh.push(measure((SECONDS * 1000) / ROUNDS, freshOp));
  oursNode.push(measure((SECONDS * 1000) / ROUNDS, meshcaNodeOp));
  peculiar.push(await measureAsync((SECONDS * 500) / ROUNDS, peculiarOp));
}
const bound = best(raw);
const meshca = best(ours);
const reference = best(peculiar);
const freshBound = best(fresh);
const meshcaNode = best(oursNode);
const native = nativeEcdsaStatus();
const row = (name: string, m: Measurement): string =>
  `${name.padEnd(44)} ${m.opsPerSecond.toFixed(0).padStart(7)} ops/s  ${(m.opsPerSecond / bound.opsPerSecond).toFixed(3).padStart(6)} of bound  p50 ${percentile(m.latenciesUs, 50).toFixed(0).padStart(5)} µs  p99 ${percentile(m.latenciesUs, 99).toFixed(0).padStart(5)} µs`;
console.log(
  `bench:sign — CSR → parse → verify → sign leaf → PEM, ECDSA P-256 CA key, one thread (${process.version}, best of ${ROUNDS})`,
);
console.log(`native ECDSA path: ${native.active ? 'on' : 'OFF'} (${native.reason})`);
console.log(row('raw bound (P-256 verify + sign)', bound));
console.log(row('node:crypto, fresh key (import+verify+sign)', freshBound));
console.log(row(native.active ? 'meshca' : 'meshca (native path off)', meshca));
console.log(row('meshca, native path off', meshcaNode));
console.log(row('@peculiar/x509 (WebCrypto)', reference));
console.log(
  `meshca / bound = ${(meshca.opsPerSecond / bound.opsPerSecond).toFixed(3)} (target ≥ 0.5); native off / bound = ${(meshcaNode.opsPerSecond / bound.opsPerSecond).toFixed(3)}; meshca / @peculiar/x509 = ${(meshca.opsPerSecond / reference.opsPerSecond).toFixed(1)}×`,
);
console.log(
  `by p50 latency (steadier on a busy machine): meshca / bound = ${(percentile(bound.latenciesUs, 50) / percentile(meshca.latenciesUs, 50)).toFixed(3)}; native off / bound = ${(percentile(bound.latenciesUs, 50) / percentile(meshcaNode.latenciesUs, 50)).toFixed(3)}`,
);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB${sink === 0 ? '' : ''}`);
