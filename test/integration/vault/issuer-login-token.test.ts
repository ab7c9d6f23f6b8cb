import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, meshca, startServe, until, type ServeProcess } from '../controller/serve-process.js';
import { makeFakePki, startFakeVault, type FakeVault } from '../../fakes/vault/fake-vault.js';

/*
 * A Vault Issuer with kubernetes auth and serviceAccountRef makes `meshca serve` mint a token for
 * that service account and send it to spec.vault.server, with extra audiences the Issuer's author
 * chooses. Here the author asks for audience istio-ca and points the Issuer at a server that
 * records the token (the fake Vault, in this process; no real Vault runs here). That token must
 * not get a workload certificate from the same meshca: the CA refuses it as an issuer's login.
 */

describe('a token meshca mints for a Vault login', () => {
  let dir: string;
  let home: string;
  let vault: FakeVault;
  let serve: ServeProcess;
  let grpcPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshca-login-token-'));
    home = path.join(dir, 'home');
    const now = new Date();
    vault = await startFakeVault({
      now: () => now,
      mounts: { pki: makeFakePki(now) },
      kubernetesRoles: { mesh: undefined },
    });
    meshca(home, 'init');
    writeFileSync(
      path.join(dir, 'issuer.yaml'),
      [
        'apiVersion: cert-manager.io/v1',
        'kind: Issuer',
        'metadata: { name: collector, namespace: istio-system }',
        'spec:',
        '  vault:',
        `    server: ${vault.url}`,
        '    path: pki/sign/mesh',
        '    auth:',
        '      kubernetes:',
        '        role: mesh',
        '        serviceAccountRef: { name: istiod, audiences: [istio-ca] }',
        '',
      ].join('\n'),
    );
    meshca(home, 'apply', '-f', path.join(dir, 'issuer.yaml'));
    serve = startServe(home);
    await until(() => /"msg":"CA server listening"/.test(serve.logs()), 'meshca serve to listen', 30_000);
    grpcPort = Number(
      /"msg":"CA server listening"[^\n]*"address":"127\.0\.0\.1:(\d+)"/.exec(serve.logs())![1],
    );
    await until(() => vault.logins.kubernetes > 0, 'the Issuer to log in to Vault', 30_000);
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await vault?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries audience istio-ca as asked, and is refused by the CA server as an issuer login', async () => {
    const login = vault.requests.find((r) => r.path.endsWith('/auth/kubernetes/login'));
    const jwt = String(login?.body?.['jwt']);
    const claims = decodeJwt(jwt);
    expect(claims.aud).toEqual(['vault://istio-system/collector', 'istio-ca']);
    expect(claims.sub).toBe('system:serviceaccount:istio-system:istiod');
    expect(claims['meshca.io/token-use']).toBe('issuer-login');

    const tokenFile = path.join(dir, 'stolen.token');
    writeFileSync(tokenFile, jwt);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'agent',
          '--once',
          '--ca-address',
          `127.0.0.1:${grpcPort}`,
          '--root-cert',
          path.join(home, 'root-cert.pem'),
          '--token-file',
          tokenFile,
          '--namespace',
          'istio-system',
          '--service-account',
          'istiod',
          '--out',
          path.join(dir, 'out'),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (c) => resolve({ code: c, stderr: err }));
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('UNAUTHENTICATED');
    expect(stderr).toContain(
      'token was minted by meshca for "issuer-login" (meshca.io/token-use), not for a workload calling the CA',
    );
  }, 60_000);
});
