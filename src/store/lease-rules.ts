import { MeshcaError } from '../errors/index.js';
import { nameProblem, namespaceProblem } from './resource-rules.js';
import type { LeaseRequest } from './store.js';

/** Longest lease accepted: a leader that vanishes must not block the others for more than a day. */
export const MAX_LEASE_DURATION_MS = 24 * 3600 * 1000;

/** Checks a lease's name and namespace; INVALID_INPUT names the bad one. */
export function checkLeaseKey(name: unknown, namespace: unknown): void {
  const n = nameProblem(name);
  if (n !== undefined) throw new MeshcaError('INVALID_INPUT', `lease name: ${n}`);
  const ns = namespaceProblem(namespace);
  if (ns !== undefined) throw new MeshcaError('INVALID_INPUT', `lease namespace: ${ns}`);
}

/** Checks an acquireLease request. */
export function checkLeaseRequest(request: LeaseRequest): void {
  if (typeof request !== 'object' || request === null) {
    throw new MeshcaError(
      'INVALID_INPUT',
      'acquireLease takes { name, namespace, holderIdentity, leaseDurationMs, now }',
    );
  }
  checkLeaseKey(request.name, request.namespace);
  const holder = request.holderIdentity as unknown;
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 253) {
    throw new MeshcaError(
      'INVALID_INPUT',
      'lease holderIdentity must be a non-empty string of at most 253 characters',
    );
  }
  const d = request.leaseDurationMs as unknown;
  if (!Number.isSafeInteger(d) || (d as number) < 1 || (d as number) > MAX_LEASE_DURATION_MS) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `lease leaseDurationMs must be an integer from 1 to ${MAX_LEASE_DURATION_MS}`,
    );
  }
  const now = request.now as unknown;
  if (!Number.isSafeInteger(now) || (now as number) < 0) {
    throw new MeshcaError('INVALID_INPUT', 'lease now must be ms since the epoch, a non-negative integer');
  }
}
