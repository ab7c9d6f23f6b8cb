import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { toMeshcaError, type MeshcaError } from '../../errors/index.js';
import { CaIssuer, type CaKeyPair } from '../../issuers/ca/ca-issuer.js';
import {
  runSigningJob,
  serializeError,
  type SerializedError,
  type SignedLeaf,
  type SigningJob,
} from './signing-job.js';
import type { KeyPolicy } from './workload-csr-policy.js';

/** Messages from the pool to a signing worker (they travel as arrays, a turn of the event loop each). */
export type ToSigningWorker =
  | {
      readonly type: 'authority';
      readonly id: number;
      readonly keyPair: CaKeyPair;
      readonly backdateMs: number;
    }
  | { readonly type: 'forget'; readonly id: number }
  | {
      readonly type: 'sign';
      readonly jobId: number;
      readonly authorityId: number | null;
      readonly job: SigningJob;
    };

/** Messages from a signing worker to the pool: one per job, as soon as it is answered. */
export type FromSigningWorker =
  | { readonly jobId: number; readonly ok: true; readonly leaf: SignedLeaf | null }
  | { readonly jobId: number; readonly ok: false; readonly error: SerializedError };

/** What the pool hands every worker at start. */
export interface SigningWorkerData {
  readonly policy: KeyPolicy;
}

/**
 * The body of a signing worker thread: keeps the CAs the pool sent it (by id, so a request signs
 * with the CA it started with even while a newer one arrives) and answers sign jobs in order.
 */
export function serveSigningWorker(port: MessagePort, data: SigningWorkerData): void {
  const authorities = new Map<number, CaIssuer | MeshcaError>();
  const handle = (message: ToSigningWorker): FromSigningWorker | undefined => {
    if (message.type === 'authority') {
      try {
        authorities.set(
          message.id,
          CaIssuer.fromKeyPair(message.keyPair, { backdateMs: message.backdateMs }),
        );
      } catch (err) {
        // Kept so each job for this CA fails with the reason instead of a generic one.
        authorities.set(message.id, toMeshcaError(err));
      }
      return undefined;
    }
    if (message.type === 'forget') {
      authorities.delete(message.id);
      return undefined;
    }
    try {
      let issuer: CaIssuer | undefined;
      if (message.authorityId !== null) {
        const loaded = authorities.get(message.authorityId);
        if (loaded === undefined)
          throw new Error(`signing CA ${message.authorityId} was not sent to this worker`);
        if (!(loaded instanceof CaIssuer)) throw loaded;
        issuer = loaded;
      }
      const leaf = runSigningJob(message.job, data.policy, issuer);
      return { jobId: message.jobId, ok: true, leaf: leaf ?? null };
    } catch (err) {
      return { jobId: message.jobId, ok: false, error: serializeError(toMeshcaError(err)) };
    }
  };
  // The pool posts the messages of one event-loop turn as an array. Each answer goes back as
  // soon as it is ready, so the main thread writes it while the next CSR is signed here.
  port.on('message', (batch: ToSigningWorker[]) => {
    for (const message of batch) {
      const answer = handle(message);
      if (answer !== undefined) port.postMessage(answer);
    }
  });
}

// This file is a worker entry point: it serves only when loaded as a worker thread.
if (parentPort !== null) serveSigningWorker(parentPort, workerData as SigningWorkerData);
