import type { Resource, ResourceKey } from '../../../src/api/resource.js';
import { createAcmeControllers } from '../../../src/controller/acme/index.js';
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
