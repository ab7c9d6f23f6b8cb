import { Registry } from 'prom-client';
import type { Resource } from '../../api/resource.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { createCertManagerMetrics, type CertManagerMetrics } from '../../telemetry/cert-manager-metrics.js';
import { createCertificateControllers } from '../certificates/create-certificate-controllers.js';
import type { CertificateControllerOptions } from '../certificates/lifecycle-options.js';
import { converge, type ConvergeResult } from './converge.js';

/** The namespace the fixtures use. */
export const NS = 'istio-system';

/** A selfSigned or ca Issuer (or any spec) in NS. */
export function issuer(
  name: string,
  spec: Record<string, unknown>,
  kind: 'Issuer' | 'ClusterIssuer' = 'Issuer',
): Resource {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind,
    metadata: kind === 'Issuer' ? { name, namespace: NS } : { name },
    spec,
  };
}

/** A Certificate in NS with an ECDSA P-256 key (fast to make) unless `spec` says otherwise. */
export function certificate(
  name: string,
  spec: Record<string, unknown>,
  annotations?: Record<string, string>,
): Resource {
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: NS, ...(annotations !== undefined && { annotations }) },
    spec: { secretName: name, privateKey: { algorithm: 'ECDSA', size: 256 }, ...spec },
  };
}

/** A store in memory, the lifecycle controllers, a clock the test moves, and metrics. */
export class LifecycleHarness {
  now: Date;
  readonly store: SqliteStore;
  readonly registry = new Registry();
  readonly metrics: CertManagerMetrics;
  readonly logs: string[] = [];
  readonly options: CertificateControllerOptions;
  #controllers;

  constructor(options: Partial<CertificateControllerOptions> = {}, start = new Date('2030-01-01T00:00:00Z')) {
    this.now = start;
    this.store = openSqliteStore({ path: ':memory:', clock: () => this.now.getTime() });
    this.metrics = createCertManagerMetrics(this.registry);
    let n = 0;
    this.options = {
      approval: true,
      clusterResourceNamespace: 'cert-manager',
      metrics: this.metrics,
      random: () => `k${String(n++).padStart(4, '0')}`,
      ...options,
    };
    this.#controllers = createCertificateControllers(this.options);
  }

  /** Creates resources. */
  async apply(...resources: Resource[]): Promise<void> {
    for (const r of resources) await this.store.create(r);
  }

  /** Runs the controllers to a fixed point at the current time. */
  async settle(): Promise<ConvergeResult> {
    return converge({
      store: this.store,
      controllers: this.#controllers,
      now: () => this.now,
      log: (l) => this.logs.push(l),
    });
  }

  /** Moves the clock to `at` and settles. */
  async advanceTo(at: Date): Promise<ConvergeResult> {
    this.now = at;
    return this.settle();
  }

  /** One resource, or undefined. */
  async get<T extends Resource = Resource>(
    kind: string,
    name: string,
    namespace: string | undefined = NS,
  ): Promise<T | undefined> {
    const apiVersion = kind === 'Secret' || kind === 'Event' ? 'v1' : 'cert-manager.io/v1';
    return this.store.tryGet<T>({ apiVersion, kind, name, ...(namespace !== undefined && { namespace }) });
  }

  /** Names of every resource of a kind in NS. */
  async names(kind: string): Promise<string[]> {
    const apiVersion = kind === 'Secret' || kind === 'Event' ? 'v1' : 'cert-manager.io/v1';
    return (await this.store.list({ apiVersion, kind }, { namespace: NS })).items.map((i) => i.metadata.name);
  }

  /** Releases the store. */
  async close(): Promise<void> {
    await this.store.close();
  }
}
