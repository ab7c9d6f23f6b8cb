import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshcaError } from '../../../src/errors/index.js';
import { createHttpServer, type HttpServer } from '../../../src/http/index.js';
import {
  METRIC_NAMES,
  createCaServerMetrics,
  createCertManagerMetrics,
  createMetricsRegistry,
} from '../../../src/telemetry/index.js';
import { requirePeer } from '../peer.js';

const RULES = fileURLToPath(new URL('../../../deploy/prometheus/meshca-alerts.yaml', import.meta.url));
const RULE_TESTS = fileURLToPath(
  new URL('../../../deploy/prometheus/meshca-alerts.test.yaml', import.meta.url),
);

/**
 * promtool's lint findings meshca accepts, each for a reason: istiod's counter names end in
 * `_count` and not `_total`, and dashboards and alert rules already query them by those names
 * (DESIGN §3); prom-client names three of its Node.js gauges `_total`.
 */
const ACCEPTED_LINT = new Set([
  ...[
    METRIC_NAMES.csrCount,
    METRIC_NAMES.authenticationFailureCount,
    METRIC_NAMES.csrParsingErrCount,
    METRIC_NAMES.idExtractionErrCount,
    METRIC_NAMES.csrSignErrCount,
    METRIC_NAMES.successCertIssuanceCount,
  ].flatMap((name) => [
    `${name} counter metrics should have "_total" suffix`,
    `${name} non-histogram and non-summary metrics should not have "_count" suffix`,
  ]),
  ...['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map(
    (name) => `${name} non-counter metrics should not have "_total" suffix`,
  ),
]);

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

describe.runIf(requirePeer('promtool', 'prometheus'))(
  'promtool accepts what meshca exports and alerts on',
  () => {
    let server: HttpServer;
    let metricsText: string;

    beforeAll(async () => {
      // A registry as `meshca serve` has it: process metrics, the CA server's and cert-manager's,
      // with every kind of series present (labels, a histogram with observations, gauges set).
      const registry = createMetricsRegistry({ processMetrics: true });
      let clock = 0;
      const ca = createCaServerMetrics(registry, { clock: () => clock });
      await ca.observeCsr(async () => {
        clock += 0.7;
      });
      await ca
        .observeCsr(async () => {
          throw new MeshcaError('UNAUTHENTICATED', 'no token');
        })
        .catch(() => undefined);
      ca.recordEvent('authentication_failure');
      ca.setRootCertExpiry(new Date('2055-01-01T00:00:00Z'));
      ca.setCertChainExpiry(new Date('2030-01-31T00:00:00Z'));
      const cm = createCertManagerMetrics(registry);
      cm.updateCertificate({
        name: 'istio-ca',
        namespace: 'istio-system',
        issuerRef: { name: 'istio-intermediate-ca', kind: 'Issuer', group: 'cert-manager.io' },
        ready: 'True',
        notAfter: new Date('2030-01-31T00:00:00Z'),
        renewalTime: new Date('2030-01-21T00:00:00Z'),
      });
      cm.updateIssuer({ name: 'istio-ca-issuer', namespace: 'istio-system', ready: 'True' });
      cm.updateClusterIssuer({ name: 'mesh-root', ready: 'Unknown' });

      server = createHttpServer({
        metrics: registry,
        readiness: () => ({ ready: true, reasons: [] }),
        bundle: () => undefined,
        clock: () => Date.now(),
      });
      const { port } = await server.listen('127.0.0.1:0');
      metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    });

    afterAll(async () => {
      await server.close();
    });

    it('parses GET /metrics, and finds no lint problem but the accepted istiod and prom-client names', () => {
      const { status, out } = promtool(['check', 'metrics'], metricsText);
      // Exit 1 is a parse error; 3 means lint findings, checked one by one below.
      expect(status === 0 || status === 3, out).toBe(true);
      const findings = out.split('\n').filter((l) => l.trim() !== '');
      expect(findings.filter((f) => !ACCEPTED_LINT.has(f))).toEqual([]);
    });

    it('finds no lint problem at all in meshca’s own and cert-manager’s metric names', () => {
      const { out } = promtool(['check', 'metrics'], metricsText);
      expect(out.split('\n').filter((l) => /^(meshca_|certmanager_)/.test(l))).toEqual([]);
    });

    it('accepts the alert rule file', () => {
      const { status, out } = promtool(['check', 'rules', RULES]);
      expect(out).toContain('SUCCESS: 5 rules found');
      expect(status).toBe(0);
    });

    it('passes the alert rule unit tests (firing, not firing, for-durations, annotations)', () => {
      const { status, out } = promtool(['test', 'rules', RULE_TESTS]);
      expect(out).toContain('SUCCESS');
      expect(status).toBe(0);
    });

    it('alerts only on metric names that meshca really exports, so a typo cannot silence an alert', () => {
      const rules = readFileSync(RULES, 'utf8');
      const referenced = new Set(rules.match(/\b(?:citadel_server|certmanager|meshca)_[a-z_]+\b/g) ?? []);
      expect(referenced.size).toBeGreaterThan(0);
      for (const name of referenced) expect(metricsText, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    });
  },
);
