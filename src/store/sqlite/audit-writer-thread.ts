import { createRequire } from 'node:module';
import type { AuditRecord } from '../../api/audit-record.js';
import { Worker } from 'node:worker_threads';
import { MeshcaError } from '../../errors/index.js';
import { mapSqliteError } from './sqlite-errors.js';

/** One audit row as the audit table stores it: the record and its issuedAt in ms, for range queries. */
export type AuditRow = AuditRecord & { readonly issuedAtMs: number };

/** The statements both the store's own connection and the writer thread run. */
export const AUDIT_INSERT_SQL = `INSERT INTO audit (serial_number, identity, caller, cluster_id, not_before, not_after,
   fingerprint_sha256, issuer, issued_at, issued_at_ms)
 VALUES (@serialNumber, @identity, @caller, @clusterId, @notBefore, @notAfter,
   @fingerprintSha256, @issuer, @issuedAt, @issuedAtMs)`;
export const AUDIT_PRUNE_SQL = 'DELETE FROM audit WHERE issued_at_ms < ?';

// The thread's whole program: its own connection to the same WAL file, one transaction per
// batch. CommonJS source evaluated by the Worker, so it runs the same from src/ (tests, tsx) and
// dist/ without a build step of its own; better-sqlite3 comes by the path the store resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
db.pragma('synchronous = ' + workerData.synchronous);
const insert = db.prepare(workerData.insertSql);
const prune = db.prepare(workerData.pruneSql);
const write = db.transaction((rows, pruneBeforeMs) => {
  for (const r of rows) insert.run(r);
  if (pruneBeforeMs !== null) prune.run(pruneBeforeMs);
});
parentPort.on('message', (m) => {
  if (m.close) { db.close(); parentPort.close(); return; }
  try {
    write(m.rows, m.pruneBeforeMs);
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { code: String(err && err.code || ''), message: String(err && err.message || err) } });
  }
});
`;

/**
 * Writes audit batches on a thread of its own, with its own connection to the store's file.
 *
 * Why: a batch of 256 records is one SQLite transaction that costs ≈ 3–4 ms (up to 10–15 ms with
 * the fsync and a WAL checkpoint) on this machine; on the CA server's event loop that stalls every
 * CSR in flight and was most of its p99 latency at half load (docs/benchmarks.md). SQLite's WAL
 * lets the second connection write while the first reads; the two take turns for the write lock.
 */
export class AuditWriterThread {
  readonly #options: { file: string; busyTimeoutMs: number; synchronous: 'FULL' | 'NORMAL' };
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  constructor(options: { file: string; busyTimeoutMs: number; synchronous: 'FULL' | 'NORMAL' }) {
    this.#options = options;
  }

  /** Inserts the rows (and prunes rows issued before `pruneBeforeMs`) in one transaction on the thread. */
  append(rows: readonly AuditRow[], pruneBeforeMs: number | undefined): Promise<void> {
    const worker = (this.#worker ??= this.#start());
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage({ id, rows, pruneBeforeMs: pruneBeforeMs ?? null });
    });
  }

  /** Lets batches in flight finish, then stops the thread. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    // Referenced until it exits: an idle writer is unref'd, and a process with nothing else left
    // to do would otherwise end with this promise unsettled (Node's exit code 13).
    worker.ref();
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage({ close: true }); // queued behind every batch already sent
    });
  }

  #start(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ...this.#options,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        insertSql: AUDIT_INSERT_SQL,
        pruneSql: AUDIT_PRUNE_SQL,
      },
      // A connection and a prepared statement or two: a small heap is plenty.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    worker.unref();
    worker.on('message', (m: { id: number; error?: { code: string; message: string } }) => {
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) worker.unref();
      if (m.error === undefined) p.resolve();
      else
        p.reject(
          mapSqliteError(
            Object.assign(new Error(m.error.message), { code: m.error.code }),
            this.#options.file,
            this.#options.busyTimeoutMs,
          ),
        );
    });
    const fail = (why: string): void => {
      if (this.#worker === worker) this.#worker = undefined; // the next batch starts another
      for (const p of this.#pending.values())
        p.reject(
          new MeshcaError(
            'STORE_UNAVAILABLE',
            `the audit writer thread stopped (${why}); the batch was not written`,
          ),
        );
      this.#pending.clear();
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return worker;
  }
}
