import { Gauge, type Registry } from 'prom-client';

/** The agent's Prometheus gauges, computed from the certificates in use at each scrape. */
export interface AgentMetrics {
  /** Records the certificates now in the credential folder: the leaf, then every certificate served or trusted with it. */
  setCertificates(leafNotAfter: Date, rootsNotAfter: readonly Date[], allNotAfter: readonly Date[]): void;
}

const DAY_MS = 86_400_000;

const earliest = (dates: readonly Date[]): Date | undefined =>
  dates.reduce<Date | undefined>((a, b) => (a === undefined || b.getTime() < a.getTime() ? b : a), undefined);

/**
 * Registers on `registry` the gauges dashboards already use for Istio's agent and Envoy:
 * `istio_agent_cert_expiry_seconds{resource_name="default"|"ROOTCA"}` (seconds until the
 * workload certificate, or the first root, expires; negative once expired) and
 * `envoy_server_days_until_first_cert_expiring` (whole days until the first certificate of the
 * chain or root bundle expires). Values are computed at scrape time from `now`; neither has a
 * sample before the first certificate is in place.
 */
export function createAgentMetrics(registry: Registry, now: () => Date): AgentMetrics {
  let leaf: Date | undefined;
  let root: Date | undefined;
  let first: Date | undefined;
  const secondsLeft = (d: Date): number => (d.getTime() - now().getTime()) / 1000;
  new Gauge({
    name: 'istio_agent_cert_expiry_seconds',
    help: 'The time remaining, in seconds, before the certificate expires; negative once expired.',
    labelNames: ['resource_name'],
    registers: [registry],
    collect() {
      this.reset();
      if (leaf !== undefined) this.set({ resource_name: 'default' }, secondsLeft(leaf));
      if (root !== undefined) this.set({ resource_name: 'ROOTCA' }, secondsLeft(root));
    },
  });
  let daysGauge: Gauge | undefined;
  return {
    setCertificates(leafNotAfter, rootsNotAfter, allNotAfter) {
      leaf = leafNotAfter;
      root = earliest(rootsNotAfter);
      first = earliest([leafNotAfter, ...allNotAfter]);
      // Registered with the first certificate: an unlabelled gauge always has a sample, and 0 days would be a false alarm.
      daysGauge ??= new Gauge({
        name: 'envoy_server_days_until_first_cert_expiring',
        help: 'Whole days until the first certificate in use (leaf, intermediates or roots) expires.',
        registers: [registry],
        collect() {
          if (first !== undefined) this.set(Math.floor((first.getTime() - now().getTime()) / DAY_MS));
        },
      });
    },
  };
}
