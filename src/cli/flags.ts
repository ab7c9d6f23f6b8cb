import { parseGoDuration } from '../api/go-duration.js';
import { isMeshcaError } from '../errors/index.js';
import type { KeySpec } from '../pki/index.js';
import { usageError } from './usage-error.js';

/** A Go duration flag (`720h`) in ms; a bad value is a usage error naming the flag. */
export function parseDurationFlag(flag: string, value: string): number {
  try {
    const ms = parseGoDuration(value);
    if (ms <= 0) throw usageError(`${flag} must be longer than zero, got ${JSON.stringify(value)}`);
    return ms;
  } catch (err) {
    if (isMeshcaError(err, 'USAGE')) throw err;
    throw usageError(`${flag}: ${(err as Error).message}`, 'write a Go duration such as "720h", "1h30m" or "90s"');
  }
}

const KEY_ALGORITHMS: Readonly<Record<string, KeySpec>> = {
  'ecdsa-p256': { algorithm: 'ECDSA', size: 256 },
  'ecdsa-p384': { algorithm: 'ECDSA', size: 384 },
  'rsa-2048': { algorithm: 'RSA', size: 2048 },
  'rsa-3072': { algorithm: 'RSA', size: 3072 },
  'rsa-4096': { algorithm: 'RSA', size: 4096 },
  ed25519: { algorithm: 'Ed25519' },
};

/** A key algorithm flag (`ecdsa-p256`, `rsa-2048`, …) as a key spec. */
export function parseKeyAlgorithmFlag(flag: string, value: string): KeySpec {
  // Own keys only: "constructor" or "__proto__" must not pass as an algorithm.
  const key = value.toLowerCase();
  const spec = Object.hasOwn(KEY_ALGORITHMS, key) ? KEY_ALGORITHMS[key] : undefined;
  if (spec === undefined) {
    throw usageError(`${flag}: unknown key algorithm ${JSON.stringify(value)}`, `choose one of: ${Object.keys(KEY_ALGORITHMS).join(', ')}`);
  }
  return spec;
}

/** An output format flag. */
export type OutputFormat = 'table' | 'yaml' | 'json';

/** Checks `-o`. */
export function parseOutputFlag(value: string): OutputFormat {
  if (value === 'table' || value === 'yaml' || value === 'json' || value === 'wide') return value === 'wide' ? 'table' : value;
  throw usageError(`-o: unknown output format ${JSON.stringify(value)}`, 'choose one of: table, yaml, json');
}
