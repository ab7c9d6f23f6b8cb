import { MeshcaError } from '../../errors/index.js';

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Parses a grpc-timeout header ("TimeoutValue TimeoutUnit": at most 8 ASCII digits, then one of
 * H M S m u n) into milliseconds. Anything else is INVALID_INPUT, naming the value.
 */
export function parseGrpcTimeout(value: string): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `malformed grpc-timeout header ${JSON.stringify(value.slice(0, 40))}`,
      {
        hint: 'send up to 8 digits followed by one of H, M, S, m, u, n (e.g. 10S)',
      },
    );
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
