import { expect } from 'vitest';
import type { Condition } from '../../../src/api/common-schemas.js';
import { getCondition } from '../../../src/api/conditions.js';
import type { Resource, ResourceKey } from '../../../src/api/resource.js';
import type { CertificateObject, RequestObject } from '../../../src/controller/certificates/certificate-resources.js';
import { decideIssuance } from '../../../src/controller/certificates/decide-issuance.js';
import { createAcmeControllers, ORDER } from '../../../src/controller/acme/index.js';
import { createCertificateControllers } from '../../../src/controller/index.js';
import { startControllerRuntime, type ControllerRuntime } from '../../../src/controller/runtime/index.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';

/** The namespace of the test resources. */
export const NS = 'gateways';

/** A store in memory with the certificate and ACME controllers running on the real clock. */
export class AcmeHarness {
  readonly store: SqliteStore = openSqliteStore({ path: ':memory:', clock: () => Date.now() });
  readonly logs: string[] = [];
  readonly runtime: ControllerRuntime;

  constructor() {
    this.runtime = startControllerRuntime({
      store: this.store,
      controllers: [
        ...createCertificateControllers({ approval: true, clusterResourceNamespace: 'cert-manager' }),
        ...createAcmeControllers({ clusterResourceNamespace: 'cert-manager', pollMs: 200, retryBaseMs: 200 }),
      ],
      leaseNamespace: NS,
      log: (level, message, fields) => this.logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
    });
  }

  /**
   * Waits until Certificate `name` is Ready and done issuing, then checks that what is stored
   * matches its spec: the trigger's decision for its Secret and current request is to wait for
   * the renewal time. ACME servers (pebble, Let's Encrypt) write the first DNS name into a CN
   * the spec left empty; that used to be SecretMismatch, and the Certificate was issued again at
   * once, forever. Waiting for Ready alone could pass between two issuances.
   */
  async expectIssuedOnce(name: string): Promise<void> {
    const certificate = await this.until(`${name} to be Ready and done issuing`, async () => {
      const c = await this.get<CertificateObject>({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: NS, name });
      const conditions = c?.status?.conditions;
      return getCondition(conditions, 'Ready')?.status === 'True' && getCondition(conditions, 'Issuing')?.status !== 'True'
        ? c
        : undefined;
    });
    const secret = await this.get<Resource>({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: certificate.spec.secretName });
    const requests = await this.store.list<RequestObject>({ apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' }, { namespace: NS });
    const currentRequest = requests.items.find(
      (r) =>
        r.metadata.ownerReferences?.some((o) => o.name === name) === true &&
        r.metadata.annotations?.['cert-manager.io/certificate-revision'] === String(certificate.status?.revision),
    );
    expect(currentRequest, `the request of ${name}'s revision ${certificate.status?.revision}`).toBeDefined();
    expect(decideIssuance({ certificate, secret, currentRequest, now: new Date() })).toMatchObject({ why: 'renewal' });
  }

  /** Creates Certificate `name` in NS for `dnsNames` (ECDSA P-256, Secret `<name>-tls`) from ClusterIssuer `issuer`. */
  async createCertificate(name: string, dnsNames: string[], issuer: string): Promise<void> {
    await this.store.create({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name, namespace: NS },
      spec: {
        secretName: `${name}-tls`,
        dnsNames,
        privateKey: { algorithm: 'ECDSA', size: 256 },
        issuerRef: { name: issuer, kind: 'ClusterIssuer' },
      },
    });
  }

  /** Waits for an Order of Certificate `name` to reach one of `states`. */
  orderIn(name: string, states: readonly string[]): Promise<Resource> {
    return this.until(`an order of ${name} to be ${states.join(' or ')}`, async () =>
      (await this.store.list<Resource>(ORDER, { namespace: NS })).items.find(
        (o) =>
          o.metadata.name.startsWith(`${name}-`) &&
          states.includes((o['status'] as { state?: string } | undefined)?.state ?? ''),
      ),
    );
  }

  /** Waits for a CertificateRequest of Certificate `name` to be Ready=False, Failed; returns that condition's message. */
  async failedRequestMessage(name: string): Promise<string> {
    const request = await this.until(`a request of ${name} to fail`, async () =>
      (
        await this.store.list<Resource>({ apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' }, { namespace: NS })
      ).items.find(
        (r) =>
          r.metadata.name.startsWith(`${name}-`) &&
          getCondition((r['status'] as { conditions?: Condition[] } | undefined)?.conditions, 'Ready')?.reason === 'Failed',
      ),
    );
    return getCondition((request['status'] as { conditions?: Condition[] }).conditions, 'Ready')?.message ?? '';
  }

  /** Polls `read` until it returns a value, or fails with the logs after `timeoutMs`. */
  async until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > end)
        throw new Error(`timed out waiting for ${what}\n${this.logs.filter((l) => !l.startsWith("debug")).slice(-25).join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Gets a resource or undefined. */
  get<T extends Resource>(key: ResourceKey): Promise<T | undefined> {
    return this.store.tryGet<T>(key);
  }

  /** Stops the controllers and closes the store. */
  async close(): Promise<void> {
    await this.runtime.stop();
    await this.store.close();
  }
}
