import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MeshcaError } from '../../errors/index.js';
import type { CaKeyPair } from '../../issuers/index.js';
import { deserializeError, type SignedLeaf, type SigningJob } from './signing-job.js';
import type { FromSigningWorker, SigningWorkerData, ToSigningWorker } from './signing-worker.js';
import type { KeyPolicy } from './workload-csr-policy.js';

/** A signing CA as the pool sends it to workers: the key pair PEMs, never logged. */
export interface PoolAuthority {
  readonly keyPair: CaKeyPair;
  readonly backdateMs?: number;
}

/** Options of the signing worker pool. */
export interface SigningWorkerPoolOptions {
  /** How many worker threads sign (at least 1). */
  readonly workers: number;
  readonly policy: KeyPolicy;
  /** Most CSRs in the workers' queues at once; one more is refused with RATE_LIMITED. */
  readonly maxQueued?: number;
  /** Called with each worker thread started, a replacement included. */
  readonly onWorkerStart?: (worker: Worker) => void;
  /** Called once when the last worker kept stopping and no more are started (size is then 0). */
  readonly onGaveUp?: () => void;
  /** Called when a worker thread stops on its own (it is replaced). */
  readonly onWorkerExit?: (detail: {
    readonly threadId: number;
    readonly error?: Error;
    readonly exitCode: number;
  }) => void;
}

interface Slot {
  worker: Worker;
  /** Ids of the CAs this worker holds, oldest first (the worker mirrors this list). */
  loaded: number[];
  inFlight: Map<number, { resolve: (leaf: SignedLeaf | undefined) => void; reject: (err: Error) => void }>;
  /** Messages of this turn of the event loop, posted together at its end (see #post). */
  outbox: ToSigningWorker[];
}

/** CAs a worker keeps: the current one and a few before it, for requests still in flight. */
const KEPT_AUTHORITIES = 4;
/**
 * A worker holds a few CAs and one CSR at a time: a small young generation keeps each thread's
 * memory (RSS) low; the default young generation sized for a main thread costs tens of MiB each.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };
/** Replacements in a row after which a worker that keeps dying is not started again. */
const MAX_RESTARTS_IN_A_ROW = 5;

/**
 * The signing worker threads: the CPU-heavy part of the CSR hot path (parse, verify, policy,
 * sign) runs there while the main thread serves HTTP/2. A CSR goes to the worker with the
 * fewest in flight; a worker that dies is replaced and its CSRs fail with a retryable error.
 */
export class SigningWorkerPool {
  readonly #o: SigningWorkerPoolOptions;
  readonly #slots: Slot[] = [];
  readonly #ids = new WeakMap<CaKeyPair, number>();
  readonly #maxQueued: number;
  #nextAuthorityId = 1;
  #nextJobId = 1;
  #queued = 0;
  #restartsInARow = 0;
  #closed = false;

  constructor(options: SigningWorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `a signing worker pool needs at least 1 worker, not ${options.workers}`,
      );
    }
    this.#o = options;
    this.#maxQueued = options.maxQueued ?? 1024;
    for (let i = 0; i < options.workers; i++) this.#slots.push(this.#start());
  }

  /** How many worker threads run now. */
  get size(): number {
    return this.#slots.length;
  }

  /**
   * Signs on a worker with `authority` (undefined: the CSR is only checked and the answer is
   * undefined). Throws the same MeshcaError the main thread would have thrown.
   */
  sign(job: SigningJob, authority: PoolAuthority | undefined): Promise<SignedLeaf | undefined> {
    if (this.#closed) {
      return Promise.reject(
        new MeshcaError('SIGNING_FAILED', 'the CA server is shutting down; retry on another replica', {
          retryable: true,
        }),
      );
    }
    if (this.#slots.length === 0) {
      return Promise.reject(
        new MeshcaError(
          'SIGNING_FAILED',
          'no signing worker is running: they kept stopping at start; retry later',
          {
            retryable: true,
            hint: 'see the log for why the workers stop, or run with --signing-workers 0',
          },
        ),
      );
    }
    if (this.#queued >= this.#maxQueued) {
      return Promise.reject(
        new MeshcaError(
          'RATE_LIMITED',
          `all ${this.#slots.length} signing workers are busy (${this.#queued} CSRs queued); retry shortly`,
          { hint: 'raise --signing-workers on a machine with more cores, or add replicas' },
        ),
      );
    }
    const slot = this.#slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    let authorityId: number | null = null;
    if (authority !== undefined) {
      authorityId = this.#idOf(authority.keyPair);
      if (!slot.loaded.includes(authorityId)) {
        this.#post(slot, {
          type: 'authority',
          id: authorityId,
          keyPair: authority.keyPair,
          backdateMs: authority.backdateMs ?? 0,
        });
        slot.loaded.push(authorityId);
        while (slot.loaded.length > KEPT_AUTHORITIES) {
          // Messages are handled in order, so a job already posted still finds its CA.
          this.#post(slot, { type: 'forget', id: slot.loaded.shift()! });
        }
      }
    }
    const jobId = this.#nextJobId++;
    this.#queued++;
    return new Promise<SignedLeaf | undefined>((resolve, reject) => {
      // A worker with CSRs in flight keeps the process alive; an idle one does not.
      if (slot.inFlight.size === 0) slot.worker.ref();
      slot.inFlight.set(jobId, { resolve, reject });
      this.#post(slot, { type: 'sign', jobId, authorityId, job });
    });
  }

  /** Stops every worker; CSRs in flight fail with a retryable error. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const slots = this.#slots.splice(0);
    await Promise.all(
      slots.map(async (slot) => {
        this.#failAll(slot, 'the CA server is shutting down; retry on another replica');
        await slot.worker.terminate();
      }),
    );
  }

  /** One id per key pair object: the authority source makes a new one for every CA it loads. */
  #idOf(keyPair: CaKeyPair): number {
    let id = this.#ids.get(keyPair);
    if (id === undefined) {
      id = this.#nextAuthorityId++;
      this.#ids.set(keyPair, id);
    }
    return id;
  }

  /**
   * Queues a message; the messages of one turn of the event loop go to the worker as one array,
   * posted from setImmediate, after every socket read of that turn (a microtask would run after
   * each read's callback and batch nothing when each connection carries one call). Each
   * postMessage costs a structured clone and a wake-up of the other thread (an eventfd write, an
   * inter-processor interrupt on a VM). Order is kept, so a CA still arrives before its jobs.
   */
  #post(slot: Slot, message: ToSigningWorker): void {
    slot.outbox.push(message);
    if (slot.outbox.length === 1) {
      setImmediate(() => {
        const batch = slot.outbox;
        slot.outbox = [];
        if (batch.length > 0) slot.worker.postMessage(batch);
      });
    }
  }

  #start(): Slot {
    const here = import.meta.url;
    const data: SigningWorkerData = { policy: this.#o.policy };
    // Built code runs the compiled .js. Under vitest the sources are .ts: Node 20 does not apply
    // `--import tsx` hooks to a worker's entry module, so a small eval'd bootstrap registers tsx
    // first and then imports the .ts entry.
    const worker = here.endsWith('.ts')
      ? new Worker(tsBootstrap(new URL('./signing-worker.ts', here)), {
          eval: true,
          workerData: data,
          resourceLimits: WORKER_LIMITS,
        })
      : new Worker(new URL('./signing-worker.js', here), { workerData: data, resourceLimits: WORKER_LIMITS });
    const slot: Slot = { worker, loaded: [], inFlight: new Map(), outbox: [] };
    worker.on('message', (answer: FromSigningWorker) => {
      const pending = slot.inFlight.get(answer.jobId);
      if (pending === undefined) return;
      slot.inFlight.delete(answer.jobId);
      if (slot.inFlight.size === 0) worker.unref();
      this.#queued--;
      this.#restartsInARow = 0;
      if (answer.ok) pending.resolve(answer.leaf ?? undefined);
      else pending.reject(deserializeError(answer.error));
    });
    let error: Error | undefined;
    worker.on('error', (err) => {
      error = err;
    });
    worker.on('exit', (exitCode) => {
      if (this.#closed) return;
      this.#o.onWorkerExit?.({ threadId: worker.threadId, exitCode, ...(error !== undefined && { error }) });
      this.#failAll(slot, `a signing worker stopped (exit code ${exitCode}) while signing this CSR; retry`);
      const index = this.#slots.indexOf(slot);
      if (index < 0) return;
      if (this.#restartsInARow >= MAX_RESTARTS_IN_A_ROW) {
        this.#slots.splice(index, 1);
        if (this.#slots.length === 0) this.#o.onGaveUp?.();
        return;
      }
      this.#restartsInARow++;
      this.#slots[index] = this.#start();
    });
    // Workers must not keep the process alive on their own: close() is the way to stop them.
    worker.unref();
    this.#o.onWorkerStart?.(worker);
    return slot;
  }

  #failAll(slot: Slot, message: string): void {
    for (const pending of slot.inFlight.values()) {
      this.#queued--;
      pending.reject(new MeshcaError('SIGNING_FAILED', message, { retryable: true }));
    }
    slot.inFlight.clear();
  }
}

/** Worker code that loads a TypeScript entry through tsx (tests and `node --import tsx` runs only). */
function tsBootstrap(entry: URL): string {
  // require.resolve finds the CommonJS build; its ESM twin beside it is the one that registers hooks.
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const api = pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
}
