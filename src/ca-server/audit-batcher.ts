import type { AuditRecord } from '../api/audit-record.js';
import { isMeshcaError } from '../errors/index.js';
import { MAX_AUDIT_BATCH } from '../store/audit-rules.js';
import type { Store } from '../store/store.js';

/** Options of the audit batcher. */
export interface AuditBatcherOptions {
  readonly store: Store;
  /** Flush as soon as this many records wait (default 256). */
  readonly batchSize?: number;
  /** Flush at least this often while records wait (default 1000 ms). */
  readonly flushIntervalMs?: number;
  /** Records older than this are pruned, at most once an hour (default 90 days; 0 keeps all). */
  readonly retentionMs?: number;
  /** Past this many waiting records (the store is down), new ones are dropped and counted. */
  readonly maxPending?: number;
  readonly now: () => Date;
  readonly onError?: (err: unknown) => void;
  /** Counts records dropped because the queue was full. */
  readonly onDropped?: (count: number) => void;
}

const HOUR_MS = 3_600_000;

/**
 * Appends the CSR hot path's audit records to the store in batches (one transaction each), so
 * signing never waits on a write. A failed batch is kept and retried on the next flush.
 */
export class AuditBatcher {
  readonly #o: AuditBatcherOptions;
  #pending: AuditRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #lastPrune = 0;

  constructor(options: AuditBatcherOptions) {
    this.#o = options;
  }

  /** Queues one record; never throws, never blocks. */
  add(record: AuditRecord): void {
    if (this.#pending.length >= (this.#o.maxPending ?? 100_000)) {
      this.#o.onDropped?.(1);
      return;
    }
    this.#pending.push(record);
    if (this.#pending.length >= (this.#o.batchSize ?? 256)) {
      void this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#o.flushIntervalMs ?? 1000);
      this.#timer.unref();
    }
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Writes everything waiting now, in transactions of at most batchSize records: after an outage
   * the backlog can be far larger than one store write may take (MAX_AUDIT_BATCH).
   */
  async flush(): Promise<void> {
    if (this.#flushing !== undefined) await this.#flushing;
    if (this.#pending.length === 0) return;
    const size = Math.min(this.#o.batchSize ?? 256, MAX_AUDIT_BATCH);
    this.#flushing = (async () => {
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, size);
        this.#pending = this.#pending.slice(size);
        try {
          await this.#o.store.appendAudit(batch);
        } catch (err) {
          // A store that is down may come back: keep the batch ahead of newer records and try
          // again. A batch the store refuses as invalid never will, so it must not block the rest.
          if (isMeshcaError(err) && !err.retryable) this.#o.onDropped?.(batch.length);
          else this.#pending = batch.concat(this.#pending);
          this.#o.onError?.(err);
          return;
        }
      }
      try {
        await this.#prune();
      } catch (err) {
        this.#o.onError?.(err);
      }
    })().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #prune(): Promise<void> {
    const retention = this.#o.retentionMs ?? 90 * 24 * HOUR_MS;
    const now = this.#o.now().getTime();
    if (retention <= 0 || now - this.#lastPrune < HOUR_MS) return;
    this.#lastPrune = now;
    await this.#o.store.pruneAudit(new Date(now - retention));
  }
}
