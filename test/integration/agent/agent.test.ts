import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GrpcCaClient, WorkloadAgent, systemClock } from '../../../src/agent/index.js';
import { makeHierarchy } from '../../../src/agent/testing/fake-ca.js';
import { TEST_TOKEN } from '../../../src/agent/testing/agent-fixture.js';
import type { CliContext } from '../../../src/cli/context.js';
import { runCli } from '../../../src/cli/run-cli.js';
import { parseCertificates, parseCsr } from '../../../src/pki/index.js';
import { requirePeer } from '../peer.js';
import { TinyCaServer } from './tiny-ca-server.js';

const hasOpenssl = requirePeer('openssl', 'openssl');

let dir: string;
let server: TinyCaServer;
let out: string;
let rootFile: string;
let tokenFile: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshca-agent-it-'));
  out = path.join(dir, 'out');
  rootFile = path.join(dir, 'root.pem');
  tokenFile = path.join(dir, 'token');
  server = new TinyCaServer();
  await server.start();
  writeFileSync(rootFile, server.behaviour.signing.root.certificate.pem);
  writeFileSync(tokenFile, `${TEST_TOKEN}\n`);
});
afterEach(() => {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `meshca agent <args>` in process with the real clock, gRPC client and files. */
async function agent(args: string[], signal?: AbortSignal): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dir,
    now: () => new Date(),
    version: '0.0.0-test',
    openStore: () => Promise.reject(new Error('the agent needs no store')),
    ...(signal !== undefined && { signal }),
  };
  const code = await runCli(['agent', ...args], ctx);
  return { code, stdout, stderr };
}

const base = (): string[] => [
  '--ca-address', server.address,
  '--root-cert', 'root.pem',
  '--token-file', 'token',
  '--namespace', 'default',
  '--service-account', 'sleep',
  '--out', 'out',
];
const read = (file: string): string => readFileSync(path.join(out, file), 'utf8');

describe('meshca agent --once against a grpc-js CA server over TLS', () => {
  it('fetches a certificate for its SPIFFE ID and writes the three files', async () => {
    const run = await agent([...base(), '--once', '--cluster-id', 'east', '--requested-lifetime', '6h']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^issued spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep \(serial [0-9a-f]+\), valid until .*; files in .*out\n$/);
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0]).toMatchObject({ authorization: `Bearer ${TEST_TOKEN}`, clusterId: 'east', validityDuration: '21600' });
    expect(parseCsr(server.calls[0]?.csr ?? '').subject).toEqual({});
    const chain = parseCertificates(read('cert-chain.pem'));
    expect(chain).toHaveLength(2);
    expect(chain[0]?.sans.uris).toEqual(['spiffe://cluster.local/ns/default/sa/sleep']);
    expect(read('root-cert.pem')).toBe(server.behaviour.signing.root.certificate.pem);
    expect(statSync(path.join(out, 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it('reuses the certificate on a second run without calling the CA', async () => {
    expect((await agent([...base(), '--once'])).code).toBe(0);
    const again = await agent([...base(), '--once']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^reused spiffe:/);
    expect(server.calls).toHaveLength(1);
  });

  it('asks for an RSA 2048 key when told', async () => {
    expect((await agent([...base(), '--once', '--key-type', 'rsa-2048'])).code).toBe(0);
    expect(parseCsr(server.calls[0]?.csr ?? '').keySpec).toEqual({ algorithm: 'RSA', size: 2048 });
  });

  describe.runIf(hasOpenssl)('checked by openssl', () => {
    it('writes a chain openssl verifies against root-cert.pem, and a key openssl pairs with the leaf', async () => {
      expect((await agent([...base(), '--once'])).code).toBe(0);
      const f = (name: string): string => path.join(out, name);
      const verify = execFileSync('openssl', ['verify', '-CAfile', f('root-cert.pem'), '-untrusted', f('cert-chain.pem'), f('cert-chain.pem')], { encoding: 'utf8' });
      expect(verify).toMatch(/cert-chain.pem: OK/);
      const fromCert = execFileSync('openssl', ['x509', '-in', f('cert-chain.pem'), '-noout', '-pubkey'], { encoding: 'utf8' });
      const fromKey = execFileSync('openssl', ['pkey', '-in', f('key.pem'), '-pubout'], { encoding: 'utf8' });
      expect(fromKey).toBe(fromCert);
      const text = execFileSync('openssl', ['x509', '-in', f('cert-chain.pem'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
      expect(text).toContain('URI:spiffe://cluster.local/ns/default/sa/sleep');
    });
  });
});

describe('meshca agent refuses bad upstreams, writing nothing and keeping the previous files', () => {
  const cases: [string, (s: TinyCaServer) => void, RegExp][] = [
    ['an answer for another identity', (s) => (s.behaviour.signAs = 'spiffe://cluster.local/ns/kube-system/sa/admin'), /^error: the CA's answer is for another identity: the leaf carries the URI SAN\(s\) "spiffe:\/\/cluster.local\/ns\/kube-system\/sa\/admin", not exactly "spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep"$/m],
    ['an answer whose leaf is not for our key', (s) => (s.behaviour.tamper = (chain) => [chain[1] ?? '', chain[2] ?? '']), /^error: the CA's answer holds a leaf certificate \(serial [0-9a-f]+\) for another public key/m],
    ['a garbage answer', (s) => (s.behaviour.tamper = () => ['garbage', 'garbage']), /^error: the CA's answer has an? (unreadable|empty) element 1 of 2/m],
    ['a one-element answer', (s) => (s.behaviour.tamper = (chain) => [chain.join('')]), /^error: the CA's answer has 1 element\(s\); it needs at least two/m],
    ['a chain that does not verify', (s) => (s.behaviour.tamper = (chain) => [chain[0] ?? '', makeHierarchy(new Date()).root.certificate.pem]), /^error: the CA's answer does not verify up to its root bundle/m],
    ['a refused token', (s) => (s.behaviour.fail = { code: status.UNAUTHENTICATED, details: 'token expired' }), /^error: the CA at 127.0.0.1:\d+ did not accept our token: token expired$/m],
    ['an oversized answer', (s) => (s.behaviour.tamper = (chain) => [...chain.slice(0, 2), 'x'.repeat(2 * 1024 * 1024)]), /^error: the CA at 127.0.0.1:\d+ sent an answer larger than 1048576 bytes/m],
  ];
  it.each(cases)('%s', async (_name, breakIt, message) => {
    expect((await agent([...base(), '--once'])).code).toBe(0);
    const before = [read('cert-chain.pem'), read('key.pem'), read('root-cert.pem')];
    breakIt(server);
    // The server backdates by an hour: with a ratio of 0.98 the certificate is due, so the agent calls.
    const run = await agent([...base(), '--once', '--grace-period-ratio', '0.98']);
    expect(server.calls).toHaveLength(2);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect([read('cert-chain.pem'), read('key.pem'), read('root-cert.pem')]).toEqual(before);
  });

  it('says it cannot reach a CA that is not listening, and writes nothing', async () => {
    server.stop();
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: cannot reach the CA at 127.0.0.1:\d+: .*(ECONNREFUSED|No connection established)/m);
    expect(run.stderr).toMatch(/^hint: check --ca-address/m);
    expect(existsSync(out)).toBe(false);
  });

  it('does not trust a CA whose serving certificate is not under --root-cert', async () => {
    writeFileSync(rootFile, makeHierarchy(new Date(), 'stranger').root.certificate.pem);
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: cannot reach the CA at 127.0.0.1:\d+: .*certificate/m);
    expect(server.calls).toHaveLength(0);
  });

  it('checks the serving certificate\'s name, which --ca-server-name can override', async () => {
    server.stop();
    server = new TinyCaServer(server.behaviour.signing);
    await server.start(undefined, { dnsNames: ['meshca-ca.test'], ipAddresses: [] });
    const wrongName = await agent([...base(), '--once']);
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toMatch(/^error: cannot reach the CA at 127.0.0.1:\d+: .*(altnames|name|Hostname)/im);
    const named = await agent([...base(), '--once', '--ca-server-name', 'meshca-ca.test']);
    expect(named.stderr).toBe('');
    expect(named.code).toBe(0);
  });

  it('refuses a root file with no certificate before calling the CA', async () => {
    writeFileSync(rootFile, '# nothing\n');
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: the root certificate file .*root.pem (holds no certificate|cannot be read)/m);
    expect(server.calls).toHaveLength(0);
  });

  it('reuses the certificate in --out though the token file is gone, with a warning at start', async () => {
    expect((await agent([...base(), '--once'])).code).toBe(0);
    rmSync(tokenFile);
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^reused spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep /);
    const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^at start: cannot read the token file .*token: ENOENT; it is read again before every request/) as unknown })]);
    expect(server.calls).toHaveLength(1);
  });

  it('refuses an --out that is a file before calling the CA', async () => {
    writeFileSync(out, 'not a folder\n');
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: --out .*out exists and is not a folder$/m);
    expect(server.calls).toHaveLength(0);
  });

  it('refuses an oversized token file before calling the CA', async () => {
    writeFileSync(tokenFile, 'a'.repeat(100_000));
    const run = await agent([...base(), '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: the token file .*token is larger than 65536 bytes$/m);
    expect(server.calls).toHaveLength(0);
  });
});

describe('meshca agent flag errors exit 2 with a precise message', () => {
  const drop = (flag: string): string[] => {
    const args = base();
    const i = args.indexOf(flag);
    args.splice(i, 2);
    return args;
  };
  it.each<[string, () => string[], RegExp]>([
    ['a missing --ca-address', () => drop('--ca-address'), /required option '--ca-address <host:port>' not specified/],
    ['a missing --out', () => drop('--out'), /required option '--out <dir>' not specified/],
    ['a --ca-address without a port', () => [...base(), '--ca-address', 'istiod'], /^error: --ca-address must be HOST:PORT, got "istiod": the port is missing$/m],
    ['an IPv4 --ca-address in brackets', () => [...base(), '--ca-address', '[127.0.0.1]:15012'], /^error: --ca-address must be HOST:PORT, got "\[127.0.0.1\]:15012": "127.0.0.1" in brackets is not an IPv6 address/m],
    ['a --key-type named like an Object.prototype member', () => [...base(), '--key-type', 'constructor'], /^error: --key-type: unknown key type "constructor"$/m],
    ['a --grace-period-ratio of 0.01, which the jitter could move to notAfter', () => [...base(), '--grace-period-ratio', '0.01'], /^error: --grace-period-ratio must be a number from 0.02 to 0.98, got "0.01"$/m],
    ['a --metrics-address with a bad port', () => [...base(), '--metrics-address', 'localhost:99999'], /^error: --metrics-address must be HOST:PORT/m],
    ['an unknown --key-type', () => [...base(), '--key-type', 'dsa'], /^error: --key-type: unknown key type "dsa"$/m],
    ['a --grace-period-ratio of 1.5', () => [...base(), '--grace-period-ratio', '1.5'], /^error: --grace-period-ratio must be a number from 0.02 to 0.98, got "1.5"$/m],
    ['a --grace-period-ratio that is not a number', () => [...base(), '--grace-period-ratio', 'half'], /^error: --grace-period-ratio must be a number from 0.02 to 0.98, got "half"$/m],
    ['a --requested-lifetime that is not a Go duration', () => [...base(), '--requested-lifetime', '1 day'], /^error: --requested-lifetime: /m],
    ['a namespace with a slash', () => [...base(), '--namespace', 'a/b'], /^error: --trust-domain, --namespace and --service-account do not make a SPIFFE ID: /m],
    ['an uppercase trust domain', () => [...base(), '--trust-domain', 'Cluster.Local'], /do not make a SPIFFE ID: .*lowercase/m],
    ['a cluster id with a newline', () => [...base(), '--cluster-id', 'a\nb'], /^error: --cluster-id must be 1 to 253 printable characters without spaces/m],
  ])('%s', async (_name, args, message) => {
    const run = await agent([...args(), '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(server.calls).toHaveLength(0);
  });
});

/** A free local port (for --metrics-address, which must name one). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('meshca agent running', () => {
  it('writes the files, serves its gauges on --metrics-address, and stops cleanly when signalled', async () => {
    const port = await freePort();
    const stop = new AbortController();
    const running = agent([...base(), '--metrics-address', `127.0.0.1:${port}`], stop.signal);
    let metrics = '';
    await until(async () => {
      metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => new Response(''))).text();
      return metrics.includes('resource_name="default"');
    }, 'the first certificate in the metrics');
    expect(existsSync(path.join(out, 'cert-chain.pem'))).toBe(true);
    expect(metrics).toMatch(/^istio_agent_cert_expiry_seconds\{resource_name="default"\} 8\d{4}(\.\d+)?$/m);
    expect(metrics).toMatch(/^envoy_server_days_until_first_cert_expiring 0$/m);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    stop.abort();
    const run = await running;
    expect(run.code).toBe(0);
    const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['agent started', 'certificate issued', 'next renewal scheduled', 'agent stopped']));
    expect(run.stderr).not.toMatch(/PRIVATE KEY/);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});

describe('root rotation over real TLS', () => {
  const stopAll: (() => void)[] = [];
  afterAll(() => stopAll.forEach((s) => s()));

  it('trusts the root of the last answer for the next connection while --root-cert still names only the old root', async () => {
    const oldHierarchy = server.behaviour.signing;
    const newHierarchy = makeHierarchy(new Date(), 'new root');
    // Phase 1: the CA, still serving under the old root, starts signing under the new one.
    server.behaviour.signing = newHierarchy;
    const config = {
      trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep', clusterId: 'Kubernetes',
      keySpec: { algorithm: 'ECDSA' as const, size: 256 }, gracePeriodRatio: 0.5, requestedLifetimeMs: 24 * 3_600_000,
      rootCertFile: rootFile, tokenFile, outDir: out,
    };
    const client = new GrpcCaClient({ address: server.address });
    stopAll.push(() => client.close());
    const logs: string[] = [];
    const workload = new WorkloadAgent(config, { client, clock: systemClock, random: () => 0.5, log: (_l, m) => logs.push(m) });
    await workload.issue(new AbortController().signal);
    expect(read('root-cert.pem')).toBe(newHierarchy.root.certificate.pem);

    // Phase 2: the CA now serves under the new root only; the old root file is unchanged.
    const port = server.port;
    server.stop();
    server = new TinyCaServer(newHierarchy);
    await server.start(newHierarchy.intermediate, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, port);
    expect(readFileSync(rootFile, 'utf8')).toBe(oldHierarchy.root.certificate.pem);
    await workload.issue(new AbortController().signal);
    expect(server.calls).toHaveLength(1);

    // A restarted agent learns the new root from root-cert.pem in its folder.
    const restartedClient = new GrpcCaClient({ address: server.address });
    stopAll.push(() => restartedClient.close());
    const restarted = new WorkloadAgent(config, { client: restartedClient, clock: systemClock, random: () => 0.5, log: () => undefined });
    const ensured = await restarted.ensure(new AbortController().signal);
    expect(ensured.action).toBe('reused');
    await restarted.issue(new AbortController().signal);
    expect(server.calls).toHaveLength(2);

    // Without the answer's root, the old root alone is not enough: a fresh folder fails.
    const freshClient = new GrpcCaClient({ address: server.address });
    stopAll.push(() => freshClient.close());
    const fresh = new WorkloadAgent({ ...config, outDir: path.join(dir, 'fresh') }, { client: freshClient, clock: systemClock, random: () => 0.5, log: () => undefined });
    await expect(fresh.issue(new AbortController().signal)).rejects.toThrow(/^cannot reach the CA at/);
  });
});
