import { Registry, collectDefaultMetrics } from 'prom-client';

/** Options of createMetricsRegistry. */
export interface MetricsRegistryOptions {
  /** Adds prom-client's process and Node.js runtime metrics (CPU, memory, event loop, GC). */
  readonly processMetrics?: boolean;
  /** Labels added to every series, e.g. `{ cluster_id: 'east' }`. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

/**
 * A fresh prom-client registry. meshca never uses prom-client's global registry, so two servers
 * (or two tests) in one process never share series.
 */
export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.defaultLabels !== undefined) registry.setDefaultLabels({ ...options.defaultLabels });
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });
  return registry;
}
