/**
 * Transport benchmark: the same HTTP/2 load generator against @grpc/grpc-js, @connectrpc/
 * connect-node and meshca's hand-written node:http2 transport, one after another in this run,
 * each server alone in its own process (one core), the load in this process (the other core).
 * Prints calls/s for each and the ratio to grpc-js; then the protobuf codec against protobufjs
 * and @bufbuild/protobuf.
 *   node --import tsx bench/grpc-transport/run.ts [seconds=5] [connections=4] [streams=32]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import protobuf from 'protobufjs';
import { makeTestTls } from '../../src/ca-server/testing/test-tls.js';
import {
  decodeIstioCertificateRequest,
  encodeIstioCertificateRequest,
} from '../../src/ca-server/proto/istio-certificate-request.js';
import { encodeIstioCertificateResponse } from '../../src/ca-server/proto/istio-certificate-response.js';
import { istioServiceDesc } from './istio-service-desc.js';

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 4);
const streams = Number(process.argv[4] ?? 32);

// A realistic request: a ~1 KiB PEM CSR and the metadata an Istio agent may send.
const CSR = `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(64).concat('\n').repeat(12)}-----END CERTIFICATE REQUEST-----\n`;
const REQUEST = encodeIstioCertificateRequest({
  csr: CSR,
  validityDuration: 86400,
  metadata: { ImpersonatedIdentity: 'spiffe://cluster.local/ns/a/sa/b' },
});
const FRAME = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), REQUEST]);
FRAME.writeUInt32BE(REQUEST.length, 1);
const PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

async function load(port: number, ca: string): Promise<{ calls: number; errors: number }> {
  const sessions = Array.from({ length: connections }, () =>
    http2.connect(`https://localhost:${port}`, { ca }),
  );
  const deadline = Date.now() + seconds * 1000;
  let calls = 0;
  let errors = 0;
  const one = (s: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const req = s.request({
        ':method': 'POST',
        ':path': PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let ok = false;
      req.on('trailers', (t: http2.IncomingHttpHeaders) => (ok = t['grpc-status'] === '0'));
      req.on('data', () => undefined);
      req.on('error', () => undefined);
      req.on('close', () => {
        if (ok) calls++;
        else errors++;
        resolve();
      });
      req.end(FRAME);
    });
  const worker = async (s: http2.ClientHttp2Session): Promise<void> => {
    while (Date.now() < deadline) await one(s);
  };
  // Warm-up, then the measured window.
  await Promise.all(sessions.map((s) => one(s)));
  calls = 0;
  const start = Date.now();
  await Promise.all(sessions.flatMap((s) => Array.from({ length: streams }, () => worker(s))));
  const elapsed = (Date.now() - start) / 1000;
  for (const s of sessions) s.close();
  return { calls: calls / elapsed, errors };
}

/** Load from h2load (nghttp2's C client), so the client is not the bottleneck; null if absent. */
function h2load(port: number, bodyFile: string): Promise<{ calls: number; errors: number } | null> {
  return new Promise((resolve) => {
    const child = spawn('h2load', [
      '-D',
      String(seconds),
      '--warm-up-time',
      '1',
      '-c',
      String(connections),
      '-m',
      String(streams),
      '-d',
      bodyFile,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      `https://127.0.0.1:${port}${PATH}`,
    ]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolve(null));
    child.on('close', () => {
      const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
      const failed = /(\d+) failed/.exec(out);
      resolve(rate ? { calls: Number(rate[1]), errors: Number(failed?.[1] ?? 0) } : null);
    });
  });
}

async function measureServer(
  kind: string,
  keyFile: string,
  certFile: string,
  ca: string,
  bodyFile: string,
): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./servers.ts', import.meta.url)), kind, keyFile, certFile],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code ?? 'signal'}`)));
    });
    const { calls, errors } = haveH2load()
      ? ((await h2load(port, bodyFile)) ?? { calls: 0, errors: -1 })
      : await load(port, ca);
    if (errors > 0) console.log(`  (${kind}: ${errors} failed calls)`);
    return calls;
  } finally {
    child.kill();
  }
}

function haveH2load(): boolean {
  return spawnSync('h2load', ['--version']).status === 0;
}

function perSecond(fn: () => void, ms = 1500): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
  }
  return n / ((performance.now() - start) / 1000);
}

const tls = makeTestTls();
const dir = mkdtempSync(join(tmpdir(), 'bench-grpc-'));
try {
  writeFileSync(join(dir, 'key.pem'), tls.serverKey, { mode: 0o600 });
  writeFileSync(join(dir, 'cert.pem'), tls.serverCert);
  writeFileSync(join(dir, 'body.bin'), FRAME);
  const client = haveH2load() ? 'h2load' : 'node:http2 client (apt-get install nghttp2-client for h2load)';
  console.log(
    `transport: ${seconds}s each, ${connections} connections × ${streams} streams, trivial unary CreateCertificate over TLS, load from ${client}`,
  );
  const results: Record<string, number> = {};
  for (const kind of ['grpc-js', 'connect', 'meshca']) {
    results[kind] = await measureServer(
      kind,
      join(dir, 'key.pem'),
      join(dir, 'cert.pem'),
      tls.caCert,
      join(dir, 'body.bin'),
    );
  }
  const base = results['grpc-js']!;
  for (const [kind, rate] of Object.entries(results)) {
    console.log(
      `  ${kind.padEnd(8)} ${rate.toFixed(0).padStart(7)} calls/s  ${(rate / base).toFixed(2)}× grpc-js`,
    );
  }

  console.log('codec: decode one IstioCertificateRequest (1 KiB CSR + metadata), encode a 2-PEM response');
  const root = protobuf.loadSync(
    fileURLToPath(new URL('../../src/ca-server/proto/ca.proto', import.meta.url)),
  );
  const Req = root.lookupType('istio.v1.auth.IstioCertificateRequest');
  const Res = root.lookupType('istio.v1.auth.IstioCertificateResponse');
  const svc = istioServiceDesc();
  const bufReq = svc.methods[0]!.input;
  const chain = [CSR, CSR];
  const PLAIN = encodeIstioCertificateRequest({ csr: CSR, validityDuration: 86400 });
  console.log(
    `  without metadata: meshca ${(perSecond(() => decodeIstioCertificateRequest(PLAIN)) / 1000).toFixed(0)} k/s, ` +
      `protobufjs ${(perSecond(() => Req.toObject(Req.decode(PLAIN))) / 1000).toFixed(0)} k/s, ` +
      `bufbuild ${(perSecond(() => fromBinary(svc.methods[0]!.input, PLAIN)) / 1000).toFixed(0)} k/s`,
  );
  const rows: [string, number, number][] = [
    [
      'meshca',
      perSecond(() => decodeIstioCertificateRequest(REQUEST)),
      perSecond(() => encodeIstioCertificateResponse(chain)),
    ],
    [
      'protobufjs',
      perSecond(() => Req.toObject(Req.decode(REQUEST))),
      perSecond(() => Res.encode({ certChain: chain }).finish()),
    ],
    ['bufbuild', perSecond(() => fromBinary(bufReq, REQUEST)), NaN],
  ];
  const [, d0, e0] = rows[1]!;
  for (const [name, d, e] of rows) {
    console.log(
      `  ${name.padEnd(10)} decode ${(d / 1000).toFixed(0).padStart(6)} k/s (${(d / d0).toFixed(2)}× protobufjs)` +
        (Number.isNaN(e)
          ? ''
          : `  encode ${(e / 1000).toFixed(0).padStart(6)} k/s (${(e / e0).toFixed(2)}× protobufjs)`),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
