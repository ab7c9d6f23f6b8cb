import { MeshcaError } from '../../errors/index.js';

/**
 * When to renew, by cert-manager's rule (DESIGN §4): `notAfter − renewBefore` when
 * 0 < renewBefore < lifetime; else `notAfter − lifetime × renewBeforePercentage / 100`; else at two
 * thirds of the lifetime. Truncated to whole seconds, as cert-manager does.
 */
export function renewalTime(args: {
  notBefore: Date;
  notAfter: Date;
  renewBeforeMs?: number;
  renewBeforePercentage?: number;
}): Date {
  const start = args.notBefore.getTime();
  const end = args.notAfter.getTime();
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
    throw new MeshcaError(
      'VALIDITY_INVALID',
      'notAfter must be a valid date after notBefore to compute a renewal time',
    );
  }
  const lifetime = end - start;
  let renewBefore = lifetime / 3;
  const { renewBeforeMs, renewBeforePercentage } = args;
  if (renewBeforeMs !== undefined && renewBeforeMs > 0 && renewBeforeMs < lifetime) {
    renewBefore = renewBeforeMs;
  } else if (renewBeforePercentage !== undefined) {
    if (!(renewBeforePercentage > 0 && renewBeforePercentage < 100)) {
      throw new MeshcaError(
        'VALIDITY_INVALID',
        `renewBeforePercentage must be between 0 and 100 (exclusive), got ${renewBeforePercentage}`,
      );
    }
    renewBefore = (lifetime * renewBeforePercentage) / 100;
  }
  return new Date(Math.floor((end - renewBefore) / 1000) * 1000);
}
