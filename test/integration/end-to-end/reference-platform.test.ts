import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates } from '../../../src/pki/index.js';
import {
  BIN,
  key,
  meshca,
  readiness,
  startServe,
  until,
  withStore,
  type ServeProcess,
} from '../controller/serve-process.js';
import { requirePeer } from '../peer.js';

// Issue 4 §3 and "done when": the reference platform's cert-manager YAML (root → istio-intermediate-ca
// → istio-ca 720h → istio-ca-issuer) applies on a fresh home, the CA server signs a workload under
// it and `openssl verify` accepts the chain; when istio-ca renews, the server signs with the new
// key without a restart and without failing a request in flight, and a workload whose leaf chains
// to the previous intermediate still verifies against the same root.

const EXAMPLES = fileURLToPath(new URL('../../../examples/reference-platform/', import.meta.url));
const ISTIO_CA = key('cert-manager.io/v1', 'Certificate', 'istio-system', 'istio-ca');

describe.runIf(requirePeer('openssl', 'openssl'))('the reference platform, applied and served', () => {
  let dir: string;
  let home: string;
  let serve: ServeProcess;
  let grpcPort: number;
  let token: string;
  let agents = 0;

  /** One workload's credentials through `meshca agent --once`; resolves with its folder and exit code. */
  const workload = (): Promise<{ out: string; code: number | null; stderr: string }> => {
    const out = path.join(dir, `workload-${agents++}`);
    return new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'agent',
          '--once',
          '--ca-address',
          `localhost:${grpcPort}`,
          '--root-cert',
          path.join(home, 'root-cert.pem'),
          '--token-file',
          token,
          '--namespace',
          'demo',
          '--service-account',
          'web',
          '--out',
          out,
          '--requested-lifetime',
          '1h',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code) => resolve({ out, code, stderr }));
    });
  };

  /** `openssl verify` of a workload's leaf against `root`, with its intermediates untrusted. */
  const opensslVerify = (out: string, root: string): string => {
    const chain = parseCertificates(readFileSync(path.join(out, 'cert-chain.pem'), 'utf8'));
    const [leaf, ...rest] = chain;
    writeFileSync(path.join(out, 'leaf.pem'), leaf!.pem);
    writeFileSync(path.join(out, 'intermediates.pem'), rest.map((c) => c.pem).join(''));
    const r = spawnSync(
      'openssl',
      [
        'verify',
        '-x509_strict',
        '-CAfile',
        root,
        '-untrusted',
        path.join(out, 'intermediates.pem'),
        path.join(out, 'leaf.pem'),
      ],
      { encoding: 'utf8' },
    );
    return `${r.stdout}${r.stderr}`.trim();
  };

  /** The fingerprint of the intermediate a workload's leaf was signed by. */
  const intermediateOf = (out: string): string =>
    parseCertificates(readFileSync(path.join(out, 'cert-chain.pem'), 'utf8'))[1]!.fingerprintSha256;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshca-reference-'));
    home = path.join(dir, 'home');
    meshca(home, 'apply', '-f', EXAMPLES);
    serve = startServe(home, ['--leader-election-lease-duration', '3s']);
    await until(
      () => /"msg":"CA server listening"[^\n]*"address":"127\.0\.0\.1:\d+"/.test(serve.logs()),
      'the CA server to listen with the applied hierarchy',
      30_000,
    );
    grpcPort = Number(
      /"msg":"CA server listening"[^\n]*"address":"127\.0\.0\.1:(\d+)"/.exec(serve.logs())![1],
    );
    await until(() => existsSync(path.join(home, 'root-cert.pem')), 'root-cert.pem', 10_000);
    token = path.join(dir, 'web.token');
    writeFileSync(
      token,
      meshca(
        home,
        'token',
        'create',
        '--namespace',
        'demo',
        '--service-account',
        'web',
        '--ttl',
        '1h',
      ).trim(),
    );
  }, 90_000);

  afterAll(async () => {
    await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues every Certificate of the examples, istio-ca for 720h under the root', async () => {
    const certs = await withStore(
      home,
      async (s) =>
        (
          await s.list(
            { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' },
            { namespace: 'istio-system' },
          )
        ).items,
    );
    expect(certs.map((c) => [c.metadata.name, readiness(c).ready])).toEqual(
      expect.arrayContaining([
        ['istio-root-ca', true],
        ['istio-ca', true],
      ]),
    );
    const status = (certs.find((c) => c.metadata.name === 'istio-ca')!.status ?? {}) as {
      notBefore: string;
      notAfter: string;
    };
    expect(Date.parse(status.notAfter) - Date.parse(status.notBefore)).toBe(720 * 3_600_000);
  });

  let before: string;

  it('signs a workload under the hierarchy, and openssl verify accepts its chain to the root', async () => {
    const w = await workload();
    expect(w.code, w.stderr).toBe(0);
    before = w.out;
    expect(opensslVerify(w.out, path.join(home, 'root-cert.pem'))).toMatch(/: OK$/);
    // Leaf → istio-ca → root: the workload's chain names this cluster's intermediate.
    const chain = parseCertificates(readFileSync(path.join(w.out, 'cert-chain.pem'), 'utf8'));
    expect(chain[1]?.subjectString).toContain('istio-intermediate-ca.cluster.local');
  }, 30_000);

  it('signs with the renewed istio-ca without a restart and without failing a request in flight; old workloads still verify', async () => {
    const rootBefore = readFileSync(path.join(home, 'root-cert.pem'), 'utf8');
    const pid = serve.child.pid;
    // Workloads keep asking while istio-ca is re-issued with a new key.
    let renewed = false;
    const inFlight: Promise<{ out: string; code: number | null; stderr: string }>[] = [];
    const load = (async () => {
      while (!renewed) {
        inFlight.push(workload());
        // One workload process at a time or so: each is a whole Node start, and a loaded machine must keep up.
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    meshca(home, 'renew', '-n', 'istio-system', 'istio-ca');
    await until(
      () => withStore(home, async (s) => readiness(await s.tryGet(ISTIO_CA)).revision === 2),
      'istio-ca to reach revision 2',
      30_000,
    );
    // The CA server picks the new intermediate up through its watch: wait until it signs with it.
    let after: { out: string; code: number | null; stderr: string } | undefined;
    await until(
      async () => {
        after = await workload();
        return after.code === 0 && intermediateOf(after.out) !== intermediateOf(before);
      },
      'the CA server to sign with the renewed istio-ca',
      30_000,
    );
    renewed = true;
    await load;
    const results = await Promise.all(inFlight);
    expect(results.length).toBeGreaterThan(2);
    for (const r of results)
      expect(r.code, `a workload request during the renewal failed: ${r.stderr}`).toBe(0);
    expect(serve.child.pid).toBe(pid);
    expect(serve.child.exitCode).toBeNull();
    // One root throughout: the new workload and the one under the previous intermediate both verify.
    expect(readFileSync(path.join(home, 'root-cert.pem'), 'utf8')).toBe(rootBefore);
    expect(opensslVerify(after!.out, path.join(home, 'root-cert.pem'))).toMatch(/: OK$/);
    expect(opensslVerify(before, path.join(home, 'root-cert.pem'))).toMatch(/: OK$/);
  }, 90_000);
});
