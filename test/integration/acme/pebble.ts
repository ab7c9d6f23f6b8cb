import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, get } from 'node:https';
import type { Resource } from '../../../src/api/resource.js';

/** A free TCP port on loopback (closed again before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running pebble (and, when asked, pebble-challtestsrv as its DNS). */
export interface Pebble {
  readonly directoryUrl: string;
  /** PEM of the CA that signed pebble's HTTPS certificate (for caBundle). */
  readonly tlsCaPem: string;
  readonly dir: string;
  /** PEM of pebble's issuing root `index` (0 is the default chain's; more with PEBBLE_ALTERNATE_ROOTS). */
  rootPem(index: number): Promise<string>;
  stop(): Promise<void>;
}

const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

async function waitForDirectory(
  url: string,
  ca: string,
  child: ChildProcess,
  log: () => string,
): Promise<void> {
  const agent = new Agent({ ca });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`pebble exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      get(url, { agent }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pebble did not answer on ${url}: ${log()}`);
}

/**
 * Starts pebble on loopback with a fresh TLS certificate, its HTTP-01 validations going to
 * `httpPort` and its DNS lookups to `dnsServer` (pebble-challtestsrv or BIND).
 */
export async function startPebble(options: {
  httpPort: number;
  dnsServer: string;
  env?: Record<string, string>;
}): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshca-pebble-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=pebble test',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  const managementPort = await freePort();
  writeFileSync(
    path.join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: path.join(dir, 'cert.pem'),
        privateKey: path.join(dir, 'key.pem'),
        httpPort: options.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  let output = '';
  const child = spawn('pebble', ['-config', path.join(dir, 'pebble.json'), '-dnsserver', options.dnsServer], {
    env: {
      ...process.env,
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_VA_ALWAYS_VALID: '0',
      PEBBLE_WFE_NONCEREJECT: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const tlsCaPem = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  await waitForDirectory(directoryUrl, tlsCaPem, child, () => output);
  const agent = new Agent({ ca: tlsCaPem });
  const rootPem = (index: number): Promise<string> =>
    new Promise((resolve, reject) => {
      get(`https://127.0.0.1:${managementPort}/roots/${index}`, { agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`pebble /roots/${index}: ${res.statusCode} ${body}`)),
        );
      }).on('error', reject);
    });
  return { directoryUrl, tlsCaPem, dir, rootPem, stop: () => stopChild(child) };
}

/** A ClusterIssuer for this pebble (its directory and TLS CA) with the rest of `spec.acme` from `acme`. */
export function pebbleClusterIssuer(name: string, pebble: Pebble, acme: Record<string, unknown>): Resource {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'ClusterIssuer',
    metadata: { name },
    spec: { acme: { server: pebble.directoryUrl, caBundle: Buffer.from(pebble.tlsCaPem).toString('base64'), ...acme } },
  };
}

/** A running pebble-challtestsrv: its DNS address for pebble, and its management API. */
export interface ChallTestSrv {
  readonly dnsServer: string;
  /** Answers A queries for `host` with `addresses` instead of the default 127.0.0.1. */
  addA(host: string, addresses: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts pebble-challtestsrv as a DNS server answering every A query with 127.0.0.1 unless told
 * otherwise through its management API; resolves once that API answers.
 */
export async function startChallTestSrv(): Promise<ChallTestSrv> {
  const dnsPort = await freePort();
  const management = `http://127.0.0.1:${await freePort()}`;
  const child = spawn(
    'pebble-challtestsrv',
    [
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      management.slice('http://'.length),
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ],
    { stdio: 'ignore' },
  );
  const manage = async (path: string, body: object): Promise<void> => {
    const res = await fetch(`${management}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`pebble-challtestsrv ${path} answered ${res.status}: ${await res.text()}`);
  };
  // Ready once the management API answers (it starts with the DNS server).
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`pebble-challtestsrv exited at start with ${child.exitCode}`);
    const up = await manage('/clear-a', { host: 'probe.example.test' }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (attempt === 100) throw new Error('pebble-challtestsrv did not answer on its management port');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dnsServer: `127.0.0.1:${dnsPort}`,
    addA: (host, addresses) => manage('/add-a', { host, addresses }),
    stop: () => stopChild(child),
  };
}
