import { Gauge, type Registry } from 'prom-client';

/** The agent's Prometheus gauges, computed from the certificates in use at each scrape. */
export interface AgentMetrics {
  /** Records the certificates now in the credential folder: the leaf and every certificate served with it. */
  setCertificates(leafNotAfter: Date, allNotAfter: readonly Date[]): void;
}

const DAY_MS = 86_400_000;

/**
 * Registers the gauges dashboards already use for Istio's agent and Envoy on `registry`:
 * `istio_agent_cert_expiry_seconds` (seconds until the workload certificate expires) and
 * `envoy_server_days_until_first_cert_expiring` (whole days until the first certificate of the
 * chain or root bundle expires). Neither has a sample before the first certificate is in place.
 */
export function createAgentMetrics(registry: Registry, now: () => Date): AgentMetrics {
  let leafNotAfter: Date | undefined;
  let firstNotAfter: Date | undefined;
  new Gauge({
    name: 'istio_agent_cert_expiry_seconds',
    help: 'Seconds until the workload certificate in use expires.',
    registers: [registry],
    collect() {
      if (leafNotAfter === undefined) this.reset();
      else this.set((leafNotAfter.getTime() - now().getTime()) / 1000);
    },
  });
  new Gauge({
    name: 'envoy_server_days_until_first_cert_expiring',
    help: 'Whole days until the first certificate in use (leaf, intermediates or roots) expires.',
    registers: [registry],
    collect() {
      if (firstNotAfter === undefined) this.reset();
      else this.set(Math.floor((firstNotAfter.getTime() - now().getTime()) / DAY_MS));
    },
  });
  return {
    setCertificates(leaf, all) {
      leafNotAfter = leaf;
      firstNotAfter = [leaf, ...all].reduce((a, b) => (b.getTime() < a.getTime() ? b : a));
    },
  };
}
