/**
 * The peer: `cfssl serve` (Debian golang-cfssl) with an ECDSA P-256 CA made by `cfssl gencert
 * -initca`, over TLS like meshca, signing at /api/v1/cfssl/sign. Each workload posts
 * `{"certificate_request": <PEM CSR>, "hosts": [<its SPIFFE ID>]}`: cfssl 1.2 does not copy a
 * CSR's SANs, so the identity is passed as a host (it writes it as a SAN, as meshca writes the URI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { buildCsr, generatePrivateKey, workloadSpiffeId } from '../../src/pki/index.js';
import type { Workload } from './h2load-load.js';
import { freePort, opensslVerify, runToEnd, waitFor } from './processes.js';

/** A running `cfssl serve` with its workloads. */
export interface CfsslTarget {
  readonly pid: number;
  readonly url: string;
  readonly workloads: readonly Workload[];
  /** Signs one more CSR with node:https over verified TLS and checks the certificate with openssl. */
  check(label: string): Promise<void>;
  close(): Promise<void>;
}

/** Writes `cfssl gencert` JSON output ({cert, key}) as two PEM files. */
function writePair(json: string, certFile: string, keyFile: string): void {
  const out = JSON.parse(json) as { cert?: string; key?: string };
  if (out.cert === undefined || out.key === undefined)
    throw new Error('cfssl gencert printed no cert or key');
  writeFileSync(certFile, out.cert);
  writeFileSync(keyFile, out.key, { mode: 0o600 });
}

/** The JSON body of one sign request. */
function signBody(i: number, tag: string): string {
  const id = workloadSpiffeId('cluster.local', `bench-${i % 16}`, `${tag}-${i}`);
  const csr = buildCsr({ key: generatePrivateKey(), sans: { uris: [id] } });
  return JSON.stringify({ certificate_request: csr, hosts: [id] });
}

/** Makes the CA and TLS material, writes the workloads' bodies, starts `cfssl serve` and waits for it. */
export async function startCfssl(o: {
  dir: string;
  identities: number;
  log: (line: string) => void;
}): Promise<CfsslTarget> {
  const file = (name: string): string => path.join(o.dir, name);
  writeFileSync(
    file('ca-csr.json'),
    JSON.stringify({ CN: 'cfssl bench root', key: { algo: 'ecdsa', size: 256 } }),
  );
  writePair(
    await runToEnd('cfssl', ['gencert', '-initca', file('ca-csr.json')]),
    file('ca.pem'),
    file('ca-key.pem'),
  );
  writeFileSync(
    file('tls-csr.json'),
    JSON.stringify({ CN: 'localhost', hosts: ['127.0.0.1', 'localhost'], key: { algo: 'ecdsa', size: 256 } }),
  );
  writePair(
    await runToEnd('cfssl', [
      'gencert',
      '-ca',
      file('ca.pem'),
      '-ca-key',
      file('ca-key.pem'),
      file('tls-csr.json'),
    ]),
    file('tls.pem'),
    file('tls-key.pem'),
  );
  // One hour, like meshca's; usages a workload certificate has.
  writeFileSync(
    file('cfssl-config.json'),
    JSON.stringify({
      signing: {
        default: {
          expiry: '1h',
          usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
        },
      },
    }),
  );

  const workloads: Workload[] = [];
  for (let i = 0; i < o.identities; i++) {
    const bodyFile = file(`cfssl-body-${i}.json`);
    writeFileSync(bodyFile, signBody(i, 'sa'));
    workloads.push({ bodyFile, headers: ['content-type: application/json'] });
  }

  const port = await freePort();
  const child: ChildProcess = spawn(
    'cfssl',
    [
      'serve',
      '-address',
      '127.0.0.1',
      '-port',
      String(port),
      '-ca',
      file('ca.pem'),
      '-ca-key',
      file('ca-key.pem'),
      '-config',
      file('cfssl-config.json'),
      '-tls-cert',
      file('tls.pem'),
      '-tls-key',
      file('tls-key.pem'),
      // Warnings only: cfssl logs every request at info, meshca logs none.
      '-loglevel',
      '2',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString().trimEnd();
    if (!/is disabled/.test(text)) o.log(`cfssl serve: ${text}`);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ca = readFileSync(file('ca.pem'), 'utf8');
  const url = `https://127.0.0.1:${port}/api/v1/cfssl/sign`;

  const post = (body: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method: 'POST', ca, headers: { 'content-type': 'application/json' } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await waitFor('cfssl serve to listen', async () => (await post('{}')).status > 0, 30_000);

  let checks = 0;
  return {
    pid: child.pid ?? -1,
    url,
    workloads,
    check: async (label) => {
      const res = await post(signBody(checks++, `check-${label}`));
      const answer = JSON.parse(res.text) as { success?: boolean; result?: { certificate?: string } };
      if (res.status !== 200 || answer.success !== true || answer.result?.certificate === undefined) {
        throw new Error(`cfssl answered ${res.status}: ${res.text.slice(0, 300)}`);
      }
      await opensslVerify(o.dir, { leaf: answer.result.certificate, intermediates: [], roots: [ca] });
    },
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
