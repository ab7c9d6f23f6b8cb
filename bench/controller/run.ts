/**
 * The certificate controllers at scale (issue 4 §6): N Certificates (ECDSA P-256, 1h, one CA
 * Issuer) applied to a SQLite store file in transactions of 256, as `meshca apply` does; then
 * the time until every one is Ready, peak RSS, and CPU while nothing is due. The controllers run
 * in this process exactly as `meshca serve` wires them (leader election, lifecycle controllers).
 *
 * There is no peer controller on this machine (cert-manager needs a Kubernetes API server), so
 * the figures are put against two bounds measured in this same run: the crypto alone (key, CSR,
 * signature per certificate) and the store alone (one committed write per certificate).
 *
 *   npm run bench:controller                         # 10,000 certificates, 60 s idle
 *   BENCH_CERTS=1000 BENCH_IDLE_SECONDS=10 npm run bench:controller
 *   BENCH_SYNCHRONOUS=NORMAL npm run bench:controller   # the store's explicit NORMAL durability
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Resource } from '../../src/api/resource.js';
import { createCertificateControllers } from '../../src/controller/index.js';
import { isMeshcaError } from '../../src/errors/index.js';
import { startControllerRuntime, type ControllerRuntime } from '../../src/controller/runtime/index.js';
import { buildCsr, generatePrivateKey, issueCertificate, parseCsr } from '../../src/pki/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { WriteOp } from '../../src/store/store.js';

const CERTS = Number(process.env.BENCH_CERTS ?? '10000');
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? '60');
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? '4');
// FULL is the store's default and what the figures in docs/certificates.md use.
const SYNCHRONOUS = process.env.BENCH_SYNCHRONOUS === 'NORMAL' ? 'NORMAL' : 'FULL';
const NS = 'bench';
const BATCH = 256;
const CERTIFICATE = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate' };

const seconds = (ns: bigint): number => Number(ns) / 1e9;
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

function certificate(name: string, issuer: string, spec: Record<string, unknown> = {}): Resource {
  return {
    ...CERTIFICATE,
    metadata: { name, namespace: NS },
    spec: {
      secretName: `${name}-tls`,
      duration: '1h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      issuerRef: { name: issuer, kind: 'Issuer', group: 'cert-manager.io' },
      ...spec,
    },
  };
}

const issuer = (name: string, spec: Record<string, unknown>): Resource => ({
  apiVersion: 'cert-manager.io/v1',
  kind: 'Issuer',
  metadata: { name, namespace: NS },
  spec,
});

const isReady = (r: Resource): boolean =>
  (r.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
    (c) => c.type === 'Ready' && c.status === 'True',
  ) === true;

/** Resolves when `names` are all Ready: lists, then follows a watch; lists again if the watch falls behind (GONE). */
async function allReady(store: SqliteStore, names: ReadonlySet<string>): Promise<void> {
  for (;;) {
    const ready = new Set<string>();
    const list = await store.list<Resource>(CERTIFICATE, { namespace: NS });
    for (const c of list.items) if (names.has(c.metadata.name) && isReady(c)) ready.add(c.metadata.name);
    if (ready.size === names.size) return;
    const watch = store.watch<Resource>(CERTIFICATE, {
      namespace: NS,
      resourceVersion: list.resourceVersion,
    });
    try {
      for await (const e of watch) {
        const n = e.object.metadata.name;
        if (!names.has(n)) continue;
        if (isReady(e.object)) ready.add(n);
        else ready.delete(n);
        if (ready.size === names.size) return;
      }
    } catch (err) {
      if (!isMeshcaError(err, 'GONE')) throw err;
    } finally {
      watch.close();
    }
  }
}

/** The crypto an issuance needs, alone: a P-256 key, a CSR, a signature by the CA. */
function cryptoBound(n: number): number {
  const caKey = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
  const ca = issueCertificate(
    { publicKey: caKey, isCA: true, subject: { commonName: 'bench CA' }, lifetimeMs: 86_400_000 },
    { selfSigned: caKey },
    { now: new Date() },
  );
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const key = generatePrivateKey({ algorithm: 'ECDSA', size: 256 });
    const csr = parseCsr(buildCsr({ key, sans: { dnsNames: [`c${i}.bench.example.com`] } }));
    issueCertificate(
      { publicKey: csr.publicKey, sans: { dnsNames: [`c${i}.bench.example.com`] }, lifetimeMs: 3_600_000 },
      { certificate: ca, key: caKey },
      { now: new Date() },
    );
  }
  return seconds(process.hrtime.bigint() - start) / n;
}

/** The store alone: one committed single-object write per certificate, on a file like the bench's. */
async function storeBound(dir: string, n: number): Promise<number> {
  const store = openSqliteStore({ path: path.join(dir, 'bound.db'), synchronous: SYNCHRONOUS });
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await store.create({ ...certificate(`c${i}`, 'x') });
  const perWrite = seconds(process.hrtime.bigint() - start) / n;
  await store.close();
  return perWrite;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshca-bench-controller-'));
  const store = openSqliteStore({ path: path.join(dir, 'store.db'), synchronous: SYNCHRONOUS });
  let runtime: ControllerRuntime | undefined;
  try {
    const warnings: string[] = [];
    runtime = startControllerRuntime({
      store,
      controllers: createCertificateControllers({ approval: true, clusterResourceNamespace: 'cert-manager' }),
      leaseNamespace: NS,
      manager: { concurrency: CONCURRENCY },
      log: (level, message, fields) => {
        if ((level === 'warn' || level === 'error') && warnings.length < 5)
          warnings.push(`${message} ${JSON.stringify(fields)}`);
      },
    });

    // The CA: a self-signed root and a CA Issuer backed by it.
    await store.transaction([
      { op: 'create', resource: issuer('selfsigned', { selfSigned: {} }) },
      {
        op: 'create',
        resource: certificate('bench-root', 'selfsigned', {
          isCA: true,
          commonName: 'bench root',
          duration: '8760h',
          secretName: 'bench-root',
        }),
      },
      { op: 'create', resource: issuer('bench-ca', { ca: { secretName: 'bench-root' } }) },
    ]);
    await allReady(store, new Set(['bench-root']));
    await runtime.manager.idle();

    const names = new Set<string>();
    for (let i = 0; i < CERTS; i++) names.add(`c${String(i).padStart(5, '0')}`);
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    let ops: WriteOp[] = [];
    for (const n of names) {
      ops.push({
        op: 'create',
        resource: certificate(n, 'bench-ca', { dnsNames: [`${n}.bench.example.com`] }),
      });
      if (ops.length === BATCH) {
        await store.transaction(ops);
        ops = [];
      }
    }
    if (ops.length > 0) await store.transaction(ops);
    const applied = process.hrtime.bigint();
    await allReady(store, names);
    const done = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    await runtime.manager.idle();
    const total = seconds(done - start);

    // Nothing is due for 40 minutes (renewal at two thirds of 1h): measure what idling costs.
    const idle0 = process.cpuUsage();
    const idleStart = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleCpu = process.cpuUsage(idle0);
    const idleWall = seconds(process.hrtime.bigint() - idleStart);
    const idleCpuPercent = ((idleCpu.user + idleCpu.system) / 1e6 / idleWall) * 100;

    const sample = Math.min(500, CERTS);
    const cryptoPerCert = cryptoBound(sample);
    const writePerCert = await storeBound(dir, sample);

    const rssKb = process.resourceUsage().maxRSS;
    const rate = CERTS / total;
    console.log(
      `meshca controller bench: ${CERTS} Certificates (ECDSA P-256, 1h, one CA Issuer), concurrency ${CONCURRENCY}, SQLite synchronous=${SYNCHRONOUS}`,
    );
    console.log(`  apply (transactions of ${BATCH}):        ${seconds(applied - start).toFixed(2)} s`);
    console.log(
      `  apply → all Ready:                     ${total.toFixed(1)} s  (${rate.toFixed(0)} certificates/s)`,
    );
    console.log(
      `  CPU during issuance:                   ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s  (${(((cpu.user + cpu.system) / 1e6 / total) * 100).toFixed(0)}% of one core)`,
    );
    console.log(`  peak RSS:                              ${mb(rssKb)}`);
    console.log(
      `  CPU idle, nothing due (${idleWall.toFixed(0)} s):        ${((idleCpu.user + idleCpu.system) / 1000).toFixed(0)} ms  (${idleCpuPercent.toFixed(3)}% of one core)`,
    );
    console.log(`  timers armed for ${runtime.manager.scheduledCount} scheduled keys: 1`);
    console.log('bounds measured in this run (per certificate):');
    console.log(
      `  crypto alone (key + CSR + sign):       ${(cryptoPerCert * 1000).toFixed(2)} ms → issuance takes ${(total / CERTS / cryptoPerCert).toFixed(1)}× the crypto`,
    );
    console.log(
      `  one committed store write:             ${(writePerCert * 1000).toFixed(2)} ms → issuance takes ${(total / CERTS / writePerCert).toFixed(1)}× one write`,
    );
    if (warnings.length > 0) console.log(`first warnings: ${warnings.join('\n  ')}`);
  } finally {
    await runtime?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
