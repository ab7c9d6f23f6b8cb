import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultHierarchyOptions, initHierarchy } from '../controller/bootstrap/init-hierarchy.js';
import { ManualClock } from '../controller/runtime/testing/manual-clock.js';
import type { Resource } from '../api/resource.js';
import type { MeshcaError } from '../errors/index.js';
import { buildCsr, generatePrivateKey, parseCertificates, verifyChain } from '../pki/index.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { mintServiceAccountToken } from './auth/mint-service-account-token.js';
import { ensureTokenSigningKey, MESHCA_TOKEN_ISSUER } from './auth/token-signing-key-store.js';
import { grpcListenError, startCaServer, type CaServerConfig, type RunningCaServer } from './ca-server.js';

// The independent client: @grpc/grpc-js with the .proto loaded by @grpc/proto-loader.
const definition = protoLoader.loadSync(fileURLToPath(new URL('../api/proto/ca.proto', import.meta.url)), {
  longs: Number,
  defaults: true,
});
const Service = (
  grpc.loadPackageDefinition(definition) as unknown as {
    istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } };
  }
).istio.v1.auth.IstioCertificateService;

const HOUR = 3_600_000;
const MINUTE = 60_000;
const ID = 'spiffe://cluster.local/ns/default/sa/web';

const config: CaServerConfig = {
  grpcHost: '127.0.0.1',
  grpcPort: 0,
  trustDomain: 'cluster.local',
  clusterId: 'Kubernetes',
  maxCertificateDurationMs: 24 * HOUR,
  issuerRef: { name: 'istio-ca-issuer', kind: 'Issuer' },
  certificateNamespace: 'istio-system',
  clusterResourceNamespace: 'cert-manager',
  servingDnsNames: ['localhost'],
  servingIpAddresses: ['127.0.0.1'],
  servingDurationMs: HOUR,
  tokenIssuers: [],
  tokenAudiences: ['istio-ca'],
  clientCertificateAuth: true,
  auditRetentionMs: 0,
};

let store: Store;
let server: RunningCaServer | undefined;
let dir: string;
const clients: grpc.Client[] = [];

beforeEach(() => {
  store = openSqliteStore({ path: ':memory:' });
  dir = mkdtempSync(path.join(tmpdir(), 'meshca-ca-server-'));
});
afterEach(async () => {
  for (const c of clients) c.close();
  clients.length = 0;
  await server?.close();
  server = undefined;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(rootsPem: string): grpc.Client & Record<string, unknown> {
  const addr = server?.grpcAddress();
  if (addr === undefined) throw new Error('server not listening');
  const c = new Service(
    `localhost:${addr.port}`,
    grpc.credentials.createSsl(Buffer.from(rootsPem)),
  ) as grpc.Client & Record<string, unknown>;
  clients.push(c);
  return c;
}

async function token(namespace = 'default', serviceAccount = 'web'): Promise<string> {
  const { key, kid } = await ensureTokenSigningKey(store, 'istio-system');
  return mintServiceAccountToken({
    key,
    kid,
    issuer: MESHCA_TOKEN_ISSUER,
    namespace,
    serviceAccount,
    ttlMs: HOUR,
    now: Date.now(),
  });
}

function call(
  c: grpc.Client & Record<string, unknown>,
  csr: string,
  headers: Record<string, string>,
): Promise<{ code: number; details: string; chain: string[] }> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    (
      c['CreateCertificate'] as (
        r: unknown,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, r?: { certChain: string[] }) => void,
      ) => void
    )({ csr, validityDuration: 3600 }, md, (err, res) =>
      resolve(
        err
          ? { code: err.code, details: err.details, chain: [] }
          : { code: 0, details: '', chain: res?.certChain ?? [] },
      ),
    );
  });
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never happened: ${what}`);
}

/** The serial of the certificate a new TLS handshake gets. */
function servingSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port: server!.grpcAddress()!.port,
        ca: rootPem(),
        servername: 'localhost',
        ALPNProtocols: ['h2'],
      },
      () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      },
    );
    socket.on('error', reject);
  });
}

const csrFor = (uri = ID): string => buildCsr({ key: generatePrivateKey(), sans: { uris: [uri] } });
const rootPem = (): string => (server?.roots() ?? []).map((c) => c.pem).join('');

describe('the CA server', () => {
  it('waits, not ready, on a home with no CA, and starts signing once `meshca init` made one, with no restart', async () => {
    server = await startCaServer(config, { store, now: () => new Date() });
    expect(server.readiness()).toEqual({
      ready: false,
      reasons: [
        'no signing CA loaded: Issuer istio-system/istio-ca-issuer does not exist',
        'no serving certificate yet',
        'the gRPC server is not listening yet',
      ],
    });
    expect(server.grpcAddress()).toBeUndefined();
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    await eventually(() => server?.readiness().ready === true, 'the server became ready');
    const answer = await call(client(rootPem()), csrFor(), { authorization: `Bearer ${await token()}` });
    expect(answer.details).toBe('');
    expect(answer.chain).toHaveLength(3);
    const [leaf, intermediate, root] = answer.chain.map((p) => parseCertificates(p)[0]!);
    expect(leaf!.sans.uris).toEqual([ID]);
    expect(verifyChain(leaf!, { intermediates: [intermediate!], roots: [root!], at: new Date() }).ok).toBe(
      true,
    );
    // The real peer agrees.
    writeFileSync(path.join(dir, 'root.pem'), answer.chain[2]!);
    writeFileSync(path.join(dir, 'int.pem'), answer.chain[1]!);
    writeFileSync(path.join(dir, 'leaf.pem'), answer.chain[0]!);
    const out = execFileSync(
      'openssl',
      ['verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'int.pem', 'leaf.pem'],
      { cwd: dir },
    ).toString();
    expect(out.trim()).toBe('leaf.pem: OK');
  });

  it('signs on a signing worker with the CA loaded from the store, audits it, and refuses a bad CSR the same way', async () => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    server = await startCaServer({ ...config, signingWorkers: 1 }, { store, now: () => new Date() });
    const authority = server.authority();
    expect(authority.ready && authority.keyPair?.certChainPem).toContain('BEGIN CERTIFICATE');
    const c = client(rootPem());
    const auth = { authorization: `Bearer ${await token()}` };
    const answer = await call(c, csrFor(), auth);
    expect(answer.details).toBe('');
    const [leaf, intermediate, root] = answer.chain.map((p) => parseCertificates(p)[0]!);
    expect(verifyChain(leaf!, { intermediates: [intermediate!], roots: [root!], at: new Date() }).ok).toBe(
      true,
    );
    const refused = await call(
      c,
      buildCsr({ key: generatePrivateKey(), sans: { uris: [ID], dnsNames: ['evil.example'] } }),
      auth,
    );
    expect(refused.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused.details).toContain('CSR_INVALID: ');
    expect(refused.details).toContain('DNS names (evil.example)');
    await server.close();
    server = undefined;
    const records = await store.listAudit({ identity: ID });
    expect(records.map((r) => r.serialNumber)).toEqual([leaf!.serialNumber]);
  });

  it('writes one audit record per certificate, in batches', async () => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    server = await startCaServer(config, { store, now: () => new Date() });
    const c = client(rootPem());
    const auth = { authorization: `Bearer ${await token()}` };
    const answers = await Promise.all([1, 2, 3].map(() => call(c, csrFor(), auth)));
    await server.close();
    server = undefined;
    const records = await store.listAudit({ identity: ID });
    expect(records).toHaveLength(3);
    const serials = answers.map((a) => parseCertificates(a.chain[0]!)[0]!.serialNumber).sort();
    expect(records.map((r) => r.serialNumber).sort()).toEqual(serials);
    expect(records[0]).toMatchObject({
      clusterId: 'Kubernetes',
      issuer: 'Issuer/istio-system/istio-ca-issuer',
    });
    expect(records[0]!.caller).toMatch(/^jwt:system:serviceaccount:default:web@/);
  });

  it.each([
    ['no token', {}, ID, grpc.status.UNAUTHENTICATED, ''],
    ['a token that is not a JWT', { authorization: 'Bearer abc' }, ID, grpc.status.UNAUTHENTICATED, ''],
    [
      "another workload's SPIFFE ID",
      'token',
      'spiffe://cluster.local/ns/default/sa/admin',
      grpc.status.PERMISSION_DENIED,
      'but the caller is spiffe://cluster.local/ns/default/sa/web',
    ],
    ['another cluster', 'token+cluster', ID, grpc.status.PERMISSION_DENIED, "is not this CA's cluster"],
  ])('answers %s with its status code', async (_name, headers, uri, code, message) => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    server = await startCaServer(config, { store, now: () => new Date() });
    const h: Record<string, string> =
      headers === 'token'
        ? { authorization: `Bearer ${await token()}` }
        : headers === 'token+cluster'
          ? { authorization: `Bearer ${await token()}`, clusterid: 'other' }
          : (headers as Record<string, string>);
    const answer = await call(client(rootPem()), csrFor(uri), h);
    expect(answer.code).toBe(code);
    expect(answer.details).toContain(message);
    // The server still serves others.
    const ok = await call(client(rootPem()), csrFor(), { authorization: `Bearer ${await token()}` });
    expect(ok.code).toBe(0);
  });

  it('swaps the signing CA at run time when the MeshcaConfig names another issuer', async () => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    const other = {
      ...defaultHierarchyOptions('cluster.local'),
      namespace: 'cert-manager',
      rootCommonName: 'Other Root',
    };
    await initHierarchy(store, other, new Date());
    // A ClusterIssuer backed by the other hierarchy's intermediate Secret (in the cluster resource namespace).
    await store.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'ClusterIssuer',
      metadata: { name: 'other-ca' },
      spec: { ca: { secretName: 'istio-ca' } },
    });
    server = await startCaServer(config, { store, now: () => new Date() });
    const firstRoot = rootPem();
    const before = await call(client(firstRoot), csrFor(), { authorization: `Bearer ${await token()}` });
    expect(parseCertificates(before.chain[2]!)[0]!.subjectString).toBe('CN=meshca root CA (cluster.local)');
    await store.create({
      apiVersion: 'meshca.io/v1alpha1',
      kind: 'MeshcaConfig',
      metadata: { name: 'default' },
      spec: { issuerRef: { name: 'other-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
    });
    await eventually(
      () =>
        server?.authority().ready === true &&
        (server.authority() as { name: string }).name === 'ClusterIssuer/other-ca',
      'the issuer was swapped',
    );
    // The serving certificate now chains to the other root too; trust both during the switch.
    const after = await call(client(firstRoot + rootPem()), csrFor(), {
      authorization: `Bearer ${await token()}`,
    });
    expect(after.details).toBe('');
    expect(parseCertificates(after.chain[2]!)[0]!.subjectString).toBe('CN=Other Root');
  });

  it('renews its serving certificate without dropping an open connection', async () => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    server = await startCaServer(config, { store, now: () => new Date() });
    const c = client(rootPem());
    const auth = { authorization: `Bearer ${await token()}` };
    expect((await call(c, csrFor(), auth)).code).toBe(0);
    const before = await servingSerial();
    server.renewServingCertificate();
    expect(await servingSerial()).not.toBe(before);
    expect((await call(c, csrFor(), auth)).code).toBe(0);
    expect((await call(client(rootPem()), csrFor(), auth)).code).toBe(0);
  });

  describe('serving certificate renewal while the signing CA is briefly not ready (time injected)', () => {
    // Whole seconds: certificate times have no milliseconds.
    const START = new Date(Math.floor(Date.now() / 1000) * 1000);
    const at = (ms: number): string => new Date(START.getTime() + ms).toISOString();
    const ISSUER = {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Issuer',
      namespace: 'istio-system',
      name: 'istio-ca-issuer',
    };

    /** Starts on a manual clock; returns it and the notAfter of every serving certificate issued. */
    async function startOnManualClock(): Promise<{ clock: ManualClock; issued: string[] }> {
      await initHierarchy(store, defaultHierarchyOptions(), START);
      const clock = new ManualClock(START);
      const issued: string[] = [];
      server = await startCaServer(config, {
        store,
        now: clock.now,
        setTimer: clock.setTimer,
        log: (_level, message, fields) => {
          if (message === 'serving certificate issued') issued.push(String(fields?.['notAfter']));
        },
      });
      expect(issued).toEqual([at(HOUR)]);
      return { clock, issued };
    }

    /** Takes the Issuer away (the same CA comes back with putIssuerBack). */
    async function removeIssuer(): Promise<() => Promise<void>> {
      const issuer = await store.get<Resource>(ISSUER);
      await store.delete(ISSUER);
      await server!.refresh();
      expect(server!.authority().ready).toBe(false);
      return async () => {
        await store.create({
          apiVersion: ISSUER.apiVersion,
          kind: ISSUER.kind,
          metadata: { namespace: ISSUER.namespace, name: ISSUER.name },
          spec: issuer['spec'],
        });
        await server!.refresh();
        expect(server!.authority().ready).toBe(true);
      };
    }

    it('renews, as soon as the same CA is back, a serving certificate that fell due while it was away', async () => {
      const { clock, issued } = await startOnManualClock();
      const putIssuerBack = await removeIssuer();
      // The renewal falls due at 40 min (2/3 of 1 h) with no CA to sign it.
      clock.advance(41 * MINUTE);
      expect(issued).toHaveLength(1);
      await putIssuerBack();
      // Same CA as the serving certificate's signer: renewed anyway, because it is due.
      expect(issued).toEqual([at(HOUR), at(41 * MINUTE + HOUR)]);
      // Past the first certificate's notAfter the server is still ready (new handshakes work).
      clock.advance(20 * MINUTE);
      expect(server!.readiness()).toEqual({ ready: true, reasons: [] });
    });

    it("keeps publishing the last ready CA's roots as the trust bundle while no CA is ready", async () => {
      await startOnManualClock();
      const before = server!.roots().map((c) => c.fingerprintSha256);
      expect(before).toHaveLength(1);
      const putIssuerBack = await removeIssuer();
      expect(server!.readiness().ready).toBe(false);
      expect(server!.roots().map((c) => c.fingerprintSha256)).toEqual(before);
      await putIssuerBack();
      expect(server!.roots().map((c) => c.fingerprintSha256)).toEqual(before);
    });

    it('retries a due renewal with backoff, and is not ready at 5/6 of the life of a certificate it could not renew', async () => {
      const { clock, issued } = await startOnManualClock();
      const putIssuerBack = await removeIssuer();
      const noCa = 'no signing CA loaded: Issuer istio-system/istio-ca-issuer does not exist';
      clock.advance(40 * MINUTE);
      // Retried 5 s, 10 s, 20 s, 40 s, then every minute.
      const retries: number[] = [];
      for (let i = 0; i < 6; i++) {
        const next = clock.nextTimerAt()!.getTime();
        retries.push(next - clock.now().getTime());
        clock.advance(next - clock.now().getTime());
      }
      expect(retries).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
      clock.advance(49 * MINUTE - (clock.now().getTime() - START.getTime()));
      expect(server!.readiness().reasons).toEqual([noCa]);
      clock.advance(2 * MINUTE);
      expect(server!.readiness()).toEqual({
        ready: false,
        reasons: [
          noCa,
          `the serving certificate was due for renewal at ${at(40 * MINUTE)} and is not renewed ` +
            `(cannot issue the serving certificate: Issuer istio-system/istio-ca-issuer does not exist); ` +
            `it expires at ${at(HOUR)}`,
        ],
      });
      expect(issued).toHaveLength(1);
      await putIssuerBack();
      expect(issued).toEqual([at(HOUR), at(51 * MINUTE + HOUR)]);
      expect(server!.readiness()).toEqual({ ready: true, reasons: [] });
    });
  });
});

describe('a gRPC port the CA server cannot have', () => {
  let blocker: net.Server | undefined;
  afterEach(async () => {
    const b = blocker;
    blocker = undefined;
    if (b !== undefined) await new Promise((r) => b.close(r));
  });
  const busyPort = async (): Promise<number> => {
    const b = net.createServer();
    blocker = b;
    await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
    return (b.address() as net.AddressInfo).port;
  };

  it('makes startCaServer fail with the address and the cause when a CA exists at start', async () => {
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    const port = await busyPort();
    const started = startCaServer({ ...config, grpcPort: port }, { store, now: () => new Date() });
    await expect(started).rejects.toThrow(
      `cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)`,
    );
    const err = (await started.catch((e: unknown) => e)) as MeshcaError;
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.hint).toContain('--grpc-address');
  });

  it('reports it once through onFatal, and says why on readiness, when the port is taken by the time the first CA appears', async () => {
    const port = await busyPort();
    const fatal: MeshcaError[] = [];
    server = await startCaServer(
      { ...config, grpcPort: port },
      { store, now: () => new Date(), onFatal: (err) => fatal.push(err) },
    );
    expect(server.failure()).toBeUndefined();
    await initHierarchy(store, defaultHierarchyOptions(), new Date());
    await eventually(() => fatal.length > 0, 'onFatal was called');
    const message = `cannot listen for gRPC on 127.0.0.1:${port}: the address is already in use (EADDRINUSE)`;
    expect(fatal.map((e) => e.message)).toEqual([message]);
    expect(server.failure()?.message).toBe(message);
    expect(server.grpcAddress()).toBeUndefined();
    expect(server.readiness()).toEqual({ ready: false, reasons: [message] });
  });

  it('names a forbidden port (EACCES) and how to fix it', () => {
    const err = grpcListenError('::', 443, Object.assign(new Error('listen EACCES'), { code: 'EACCES' }));
    expect(err.message).toBe('cannot listen for gRPC on [::]:443: permission denied (EACCES)');
    expect(err.hint).toContain('CAP_NET_BIND_SERVICE');
  });
});
