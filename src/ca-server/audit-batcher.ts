import type { AuditRecord } from '../api/audit-record.js';
import { isMeshcaError } from '../errors/index.js';
import { MAX_AUDIT_BATCH } from '../store/audit-rules.js';
import type { Store } from '../store/store.js';

/** Runs `fn` once at the instant `at` of the injected clock; returns a function that cancels it. */
export type AuditSetTimer = (at: Date, fn: () => void) => () => void;

/** Why records were dropped: a full queue, a batch the store refused as invalid, or a close that gave up. */
export type AuditDropReason = 'queue-full' | 'invalid' | 'shutdown';

/** What the batcher does after a failed write or prune. */
export interface AuditErrorInfo {
  /** Records still waiting after this failure. */
  readonly pending: number;
  /** The next write is tried in this many ms; undefined: no retry is scheduled for this error. */
  readonly retryInMs: number | undefined;
}

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
  /** After a failed write, the next is tried after this long, doubled per failure in a row (default 1000 ms). */
  readonly retryMinMs?: number;
  /** The longest wait between two tries while the store stays down (default 60 s). */
  readonly retryMaxMs?: number;
  /** How long close() keeps trying to write what waits before giving it up (default 5 s). */
  readonly closeTimeoutMs?: number;
  readonly now: () => Date;
  /** Schedules on the `now` clock (a test clock; ca-server's SetTimer has this shape); default Node timers, unref'd. */
  readonly setTimer?: AuditSetTimer;
  readonly onError?: (err: unknown, info: AuditErrorInfo) => void;
  /** Counts records dropped, with why (the count is exact; nothing is dropped without a call). */
  readonly onDropped?: (count: number, reason: AuditDropReason) => void;
}

const HOUR_MS = 3_600_000;

/**
 * Appends the CSR hot path's audit records to the store in batches (one transaction each), so
 * signing never waits on a write. A batch the store could not take is kept, ahead of newer
 * records, and retried by a timer with exponential backoff (retryMinMs doubling up to
 * retryMaxMs); while it backs off, a full batch does not start another write. Past maxPending
 * waiting records new ones are dropped and counted. Only one write runs at a time. close() keeps
 * trying for closeTimeoutMs, then reports what it could not write as dropped ('shutdown').
 */
export class AuditBatcher {
  readonly #o: AuditBatcherOptions;
  #pending: AuditRecord[] = [];
  /** Cancels the one armed timer: the flush interval, or the retry after a failure. */
  #cancelTimer: (() => void) | undefined;
  /** The write loop running now, if any; never rejects. */
  #writing: Promise<void> | undefined;
  /** Failed writes in a row (0: the store is taking writes). */
  #failures = 0;
  #closing = false;
  #closed = false;
  #lastPrune = 0;

  constructor(options: AuditBatcherOptions) {
    this.#o = options;
  }

  /** Queues one record; never throws, never blocks. */
  add(record: AuditRecord): void {
    if (this.#closed) {
      this.#o.onDropped?.(1, 'shutdown');
      return;
    }
    if (this.#pending.length >= (this.#o.maxPending ?? 100_000)) {
      this.#o.onDropped?.(1, 'queue-full');
      return;
    }
    this.#pending.push(record);
    if (this.#closing) return; // close() writes what waits
    if (this.#failures > 0) return; // backing off: the retry timer is armed
    if (this.#pending.length >= (this.#o.batchSize ?? 256)) {
      void this.#write(); // or joins the one that runs, which writes this too
    } else if (this.#cancelTimer === undefined) {
      this.#arm(this.#o.flushIntervalMs ?? 1000);
    }
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Writes everything waiting now (whatever the backoff), in transactions of at most batchSize
   * records: after an outage the backlog can be far larger than one store write may take
   * (MAX_AUDIT_BATCH). Resolves once no write is running; a failure is reported to onError.
   */
  async flush(): Promise<void> {
    await this.#idle();
    // Another caller may have started a write since: #write() joins it, and #idle() waits for it.
    if (this.#pending.length > 0) await this.#write();
    await this.#idle();
  }

  /**
   * Stops the timer and writes what waits, retrying with backoff for up to closeTimeoutMs. What
   * still cannot be written is dropped and reported (onDropped 'shutdown'). Resolves with no
   * write running, so the store may be closed next.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#disarm();
    const deadline = this.#o.now().getTime() + (this.#o.closeTimeoutMs ?? 5000);
    for (let attempt = 1; ; attempt++) {
      await this.flush();
      const now = this.#o.now().getTime();
      if (this.#pending.length === 0 || now >= deadline) break;
      const at = Math.min(deadline, now + this.#backoffMs(attempt));
      // Timers are unref'd (injected ones too, likely): hold the process open while close() waits,
      // or a stopping process could exit here with the records neither written nor reported.
      const keepAlive = setInterval(() => undefined, 2 ** 31 - 1);
      try {
        await new Promise<void>((resolve) => {
          this.#cancelTimer = this.#setTimer(at, resolve);
        });
      } finally {
        clearInterval(keepAlive);
      }
      this.#cancelTimer = undefined;
    }
    this.#disarm();
    this.#closed = true;
    const lost = this.#pending.length;
    if (lost > 0) {
      this.#pending = [];
      this.#o.onDropped?.(lost, 'shutdown');
    }
  }

  /** Waits until no write runs (one may start while another is awaited). */
  async #idle(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  /** Starts the write loop unless it runs; either way returns it. */
  #write(): Promise<void> {
    this.#writing ??= this.#writeAll().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #writeAll(): Promise<void> {
    this.#disarm();
    const size = Math.min(this.#o.batchSize ?? 256, MAX_AUDIT_BATCH);
    // Records that arrive while this runs are written by it too (a timer or a full batch meanwhile
    // starts nothing), so it loops until none waits or the store fails.
    while (this.#pending.length > 0) {
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, size);
        this.#pending = this.#pending.slice(size);
        try {
          await this.#o.store.appendAudit(batch);
          this.#failures = 0;
        } catch (err) {
          if (isMeshcaError(err) && !err.retryable) {
            // A batch the store refuses as invalid never will be taken: it must not block the rest.
            // The store answered, so it is not down: no backoff.
            this.#failures = 0;
            this.#o.onDropped?.(batch.length, 'invalid');
            this.#o.onError?.(err, { pending: this.#pending.length, retryInMs: undefined });
            continue;
          }
          // A store that is down may come back: keep the batch ahead of newer records, try later
          // (close() schedules its own tries).
          this.#pending = batch.concat(this.#pending);
          this.#failures++;
          let retryInMs: number | undefined;
          if (!this.#closing) {
            retryInMs = this.#backoffMs(this.#failures);
            this.#arm(retryInMs);
          }
          this.#o.onError?.(err, { pending: this.#pending.length, retryInMs });
          return;
        }
      }
      try {
        await this.#prune();
      } catch (err) {
        this.#o.onError?.(err, { pending: this.#pending.length, retryInMs: undefined });
      }
    }
  }

  /** retryMinMs doubled per failure in a row after the first, at most retryMaxMs. */
  #backoffMs(failures: number): number {
    const min = this.#o.retryMinMs ?? 1000;
    const max = this.#o.retryMaxMs ?? 60_000;
    return Math.min(max, min * 2 ** Math.min(failures - 1, 30));
  }

  /** Arms the one timer to write in `delayMs` (replacing any armed one). */
  #arm(delayMs: number): void {
    this.#disarm();
    this.#cancelTimer = this.#setTimer(this.#o.now().getTime() + delayMs, () => {
      this.#cancelTimer = undefined;
      void this.#write(); // joins a write that runs: it writes what waits
    });
  }

  #disarm(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  #setTimer(at: number, fn: () => void): () => void {
    if (this.#o.setTimer !== undefined) return this.#o.setTimer(new Date(at), fn);
    const handle = setTimeout(fn, Math.max(0, at - this.#o.now().getTime()));
    handle.unref(); // a flush or retry must not keep a stopping process alive
    return () => clearTimeout(handle);
  }

  async #prune(): Promise<void> {
    const retention = this.#o.retentionMs ?? 90 * 24 * HOUR_MS;
    const now = this.#o.now().getTime();
    if (retention <= 0 || now - this.#lastPrune < HOUR_MS) return;
    this.#lastPrune = now;
    await this.#o.store.pruneAudit(new Date(now - retention));
  }
}
