import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshcaError } from '../../../src/errors/index.js';
import { createHttpServer, type HttpServer } from '../../../src/http/index.js';
import {
  createCaServerMetrics,
  createCertManagerMetrics,
  createMetricsRegistry,
  type CaServerMetrics,
} from '../../../src/telemetry/index.js';
import { requirePeer } from '../peer.js';

const RULES = fileURLToPath(new URL('../../../deploy/prometheus/meshca-alerts.yaml', import.meta.url));

/** A port free at the time of asking (Prometheus cannot report the port it bound for :0). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Polls `probe` until it returns a value: Prometheus scrapes and evaluates on its own schedule. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  limitMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err as Error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Prometheus never showed ${what}${last === undefined ? '' : `: ${last.message}`}`);
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

// The real Prometheus server scrapes meshca's /metrics and evaluates meshca's alert rules on it.
describe.runIf(requirePeer('prometheus', 'prometheus'))('a real Prometheus scraping meshca', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-prometheus-'));
  let server: HttpServer;
  let prometheus: ChildProcess;
  let ca: CaServerMetrics;
  let api: string;
  let log = '';

  const query = async (promql: string): Promise<PromResult[]> => {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: PromResult[] } };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${JSON.stringify(body)}`);
    return body.data.result;
  };

  beforeAll(async () => {
    const registry = createMetricsRegistry({ processMetrics: true });
    ca = createCaServerMetrics(registry);
    ca.recordCsrResult();
    ca.setRootCertExpiry(new Date(Date.now() + 3650 * 86_400_000));
    createCertManagerMetrics(registry).updateCertificate({
      name: 'istio-ca',
      namespace: 'istio-system',
      issuerRef: { name: 'istio-intermediate-ca', kind: 'Issuer', group: 'cert-manager.io' },
      ready: 'True',
      notAfter: new Date(Date.now() + 30 * 86_400_000),
      renewalTime: new Date(Date.now() + 20 * 86_400_000),
    });
    server = createHttpServer({
      metrics: registry,
      readiness: () => ({ ready: true, reasons: [] }),
      bundle: () => undefined,
      clock: () => Date.now(),
    });
    const target = await server.listen('127.0.0.1:0');

    const promPort = await freePort();
    api = `http://127.0.0.1:${promPort}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${JSON.stringify(RULES)}`,
        'scrape_configs:',
        '  - job_name: meshca',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${target.port}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    await eventually('meshca as an up target', async () => {
      const up = await query('up{job="meshca"}');
      return up[0]?.value[1] === '1' ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\nprometheus log:\n${log}`);
    });
  }, 90_000);

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the CA server and cert-manager series with their labels', async () => {
    const ok = await query('citadel_server_csr_count{job="meshca",error=""}');
    expect(ok[0]?.value[1]).toBe('1');
    const ready = await query('certmanager_certificate_ready_status{condition="True"}');
    expect(ready[0]?.metric).toMatchObject({
      name: 'istio-ca',
      namespace: 'istio-system',
      issuer_name: 'istio-intermediate-ca',
      issuer_kind: 'Issuer',
      issuer_group: 'cert-manager.io',
    });
  });

  it('loads all five alert rules and evaluates each without error', async () => {
    const rules = await eventually('every rule evaluated', async () => {
      const res = (await (await fetch(`${api}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const all = res.data.groups.flatMap((g) => g.rules);
      return all.length === 5 && all.every((r) => r.health === 'ok') ? all : undefined;
    });
    expect(rules.map((r) => r.name).sort()).toEqual([
      'MeshcaCertChainExpiringSoon',
      'MeshcaCertificateNotReady',
      'MeshcaCertificateRenewalOverdue',
      'MeshcaCsrFailures',
      'MeshcaRootCertExpiringSoon',
    ]);
  });

  it('fires MeshcaCsrFailures on the very first failed CSR, because the error series start at 0', async () => {
    // Let Prometheus see the 0 first, then fail one CSR.
    await eventually('the zero CSR_INVALID series', async () =>
      (await query('citadel_server_csr_count{error="CSR_INVALID"}')).length > 0 ? true : undefined,
    );
    ca.recordCsrResult(new MeshcaError('CSR_INVALID', 'bad csr'));
    const alert = await eventually('MeshcaCsrFailures firing', async () => {
      const res = (await (await fetch(`${api}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      };
      return res.data.alerts.find((a) => a.labels.alertname === 'MeshcaCsrFailures' && a.state === 'firing');
    });
    expect(alert.labels).toMatchObject({ error: 'CSR_INVALID', severity: 'warning', job: 'meshca' });
  });
});
