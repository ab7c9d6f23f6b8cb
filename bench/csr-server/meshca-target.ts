/**
 * meshca under test: a fresh home made by `meshca init`, `meshca serve` as a child process, one
 * identity per workload (its own key, CSR and meshca-signed service-account token) written as a
 * gRPC request body, a check with a real client, and the server's own counters from /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import {
  ensureTokenSigningKey,
  MESHCA_TOKEN_ISSUER,
} from '../../src/ca-server/auth/token-signing-key-store.js';
import { mintServiceAccountToken } from '../../src/ca-server/auth/mint-service-account-token.js';
import { encodeIstioCertificateRequest } from '../../src/ca-server/proto/istio-certificate-request.js';
import { decodeIstioCertificateResponse } from '../../src/ca-server/proto/istio-certificate-response.js';
import { buildCsr, generatePrivateKey, workloadSpiffeId } from '../../src/pki/index.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Workload } from './h2load-load.js';
import { freePort, opensslVerify, runToEnd, waitFor } from './processes.js';

/** The Istio CA API method h2load posts to. */
const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
const TRUST_DOMAIN = 'cluster.local';
const CLUSTER_ID = 'Kubernetes';
/** Requested lifetime: one hour, as short-lived workload certificates are. */
const VALIDITY_SECONDS = 3600;

/** meshca's success and answer counters at one moment. */
export interface CsrCounters {
  /** citadel_server_success_cert_issuance_count. */
  readonly succeeded: number;
  /** citadel_server_csr_count summed over every error label (successes included). */
  readonly answered: number;
}

/** A running `meshca serve` with its workloads. */
export interface MeshcaTarget {
  readonly pid: number;
  readonly url: string;
  readonly workloads: readonly Workload[];
  /** Signs one more CSR with node:http2 over verified TLS and checks the chain with openssl. */
  check(label: string): Promise<void>;
  counters(): Promise<CsrCounters>;
  /** The server's /metrics text. */
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** Frames a protobuf message as one gRPC message: compressed flag 0, 4-byte big-endian length. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Sums the samples of a Prometheus text-format metric (all label sets). */
export function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** The Node flags of a `#!/usr/bin/env -S node <flags>` line, so the bench runs meshca with them. */
export function launcherNodeFlags(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\S*env -S node((?: \S+)*)\s*$/.exec(first);
  if (m === null) {
    if (/^#!\S*env node\s*$/.test(first)) return [];
    throw new Error(`cannot read the node flags of ${bin}'s first line: ${first}`);
  }
  return m[1]!.split(' ').filter((f) => f !== '');
}

/** Prepares a home and workloads, starts `meshca serve` and waits until it is ready. */
export async function startMeshca(o: {
  dir: string;
  identities: number;
  extraServeArgs: readonly string[];
  /** Node options for the server process, e.g. --cpu-prof. */
  nodeArgs: readonly string[];
  log: (line: string) => void;
}): Promise<MeshcaTarget> {
  const home = path.join(o.dir, 'meshca-home');
  const bin = path.resolve('bin/meshca.js');
  await runToEnd(process.execPath, [bin, '--home', home, 'init']);

  const requestFor = async (
    mintToken: (ns: string, sa: string) => Promise<string>,
    i: number,
    tag: string,
  ) => {
    const ns = `bench-${i % 16}`;
    const sa = `${tag}-${i}`;
    const csr = buildCsr({
      key: generatePrivateKey(),
      sans: { uris: [workloadSpiffeId(TRUST_DOMAIN, ns, sa)] },
    });
    const body = grpcFrame(encodeIstioCertificateRequest({ csr, validityDuration: VALIDITY_SECONDS }));
    return { body, token: await mintToken(ns, sa) };
  };

  // Tokens are signed with meshca's own token key, which `meshca serve` trusts; made before it starts.
  const store = openSqliteStore({ path: path.join(home, 'store.db') });
  const { key, kid } = await ensureTokenSigningKey(store, 'istio-system');
  await store.close();
  const mintToken = (ns: string, sa: string): Promise<string> =>
    mintServiceAccountToken({
      key,
      kid,
      issuer: MESHCA_TOKEN_ISSUER,
      namespace: ns,
      serviceAccount: sa,
      audience: ['istio-ca'],
      ttlMs: 3_600_000,
      now: Date.now(),
    });
  const workloads: Workload[] = [];
  for (let i = 0; i < o.identities; i++) {
    const { body, token } = await requestFor(mintToken, i, 'sa');
    const bodyFile = path.join(o.dir, `meshca-body-${i}.bin`);
    writeFileSync(bodyFile, body);
    workloads.push({
      bodyFile,
      headers: [
        'content-type: application/grpc',
        'te: trailers',
        `authorization: Bearer ${token}`,
        `clusterid: ${CLUSTER_ID}`,
      ],
    });
  }

  const grpcPort = await freePort();
  const httpPort = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // Node flags as users get them, from bin/meshca.js's own `#!` line, then the bench's own.
      ...launcherNodeFlags(bin),
      ...o.nodeArgs,
      bin,
      '--home',
      home,
      'serve',
      '--grpc-address',
      `127.0.0.1:${grpcPort}`,
      '--http-address',
      `127.0.0.1:${httpPort}`,
      '--cluster-id',
      CLUSTER_ID,
      '--log-level',
      'warn',
      // The benchmark needs no ACME solver; leave port 8089 to whoever has it.
      '--acme-http01-address',
      '',
      ...o.extraServeArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // serve prints nothing on stdout; node's own diagnostics (--trace-gc) do.
  child.stdout?.on('data', (d: Buffer) => o.log(`meshca serve: ${d.toString().trimEnd()}`));
  child.stderr?.on('data', (d: Buffer) => o.log(`meshca serve: ${d.toString().trimEnd()}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpBase = `http://127.0.0.1:${httpPort}`;
  await waitFor('meshca serve to be ready', async () => (await fetch(`${httpBase}/readyz`)).ok, 30_000);
  // serve writes the trust bundle here; the check's TLS handshake verifies the server against it.
  const rootPem = readFileSync(path.join(home, 'root-cert.pem'), 'utf8');

  let checks = 0;
  return {
    pid: child.pid ?? -1,
    url: `https://127.0.0.1:${grpcPort}${CREATE_CERTIFICATE_PATH}`,
    workloads,
    check: async (label) => {
      const { body, token } = await requestFor(mintToken, checks++, `check-${label}`);
      const session = http2.connect(`https://127.0.0.1:${grpcPort}`, { ca: rootPem });
      try {
        const chain = await new Promise<string[]>((resolve, reject) => {
          const req = session.request({
            ':method': 'POST',
            ':path': CREATE_CERTIFICATE_PATH,
            'content-type': 'application/grpc',
            te: 'trailers',
            authorization: `Bearer ${token}`,
          });
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('trailers', (t: http2.IncomingHttpHeaders) => {
            if (t['grpc-status'] !== '0')
              reject(
                new Error(
                  `meshca answered grpc-status ${String(t['grpc-status'])}: ${String(t['grpc-message'])}`,
                ),
              );
          });
          req.on('error', reject);
          req.on('end', () => {
            const data = Buffer.concat(chunks);
            resolve(decodeIstioCertificateResponse(data.subarray(5, 5 + data.readUInt32BE(1))));
          });
          req.end(body);
        });
        if (chain.length < 2)
          throw new Error(
            `meshca answered a chain of ${chain.length} certificate(s); the Istio agent needs at least 2`,
          );
        if (chain.at(-1) !== rootPem)
          throw new Error("the last element of meshca's chain is not its root-cert.pem");
        await opensslVerify(o.dir, {
          leaf: chain[0] ?? '',
          intermediates: chain.slice(1, -1),
          roots: chain.slice(-1),
        });
      } finally {
        session.close();
      }
    },
    metrics: async () => (await fetch(`${httpBase}/metrics`)).text(),
    counters: async () => {
      const text = await (await fetch(`${httpBase}/metrics`)).text();
      return {
        succeeded: sumMetric(text, 'citadel_server_success_cert_issuance_count'),
        answered: sumMetric(text, 'citadel_server_csr_count'),
      };
    },
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
