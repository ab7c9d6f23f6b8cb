import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * meshca's narrow native ECDSA path (native/ecdsa.cc, built by `npm ci` through node-gyp against
 * the OpenSSL inside Node): verify with an EC point never seen before and sign with the CA key,
 * for P-256 and P-384 only.
 *
 * Why: node:crypto can verify only with a KeyObject, and every CSR carries a new key. Importing
 * it and the first verify with it (OpenSSL 3 converts the key for its provider then) cost as much
 * again as the verify and sign themselves. Measured by bench/sign on the 2-core machine:
 * import + verify + sign through node:crypto 4,470/s; the same through this path 9,400/s; the raw
 * node:crypto bound (verify with a key already imported + sign) 8,700/s.
 *
 * Everything is optional: without the built addon, or with MESHCA_NATIVE=off, every caller takes
 * the node:crypto path, and both paths give the same answers (property-tested).
 */

/** What the C++ side exports; see native/ecdsa.cc. */
interface Binding {
  pointValid(curve: number, point: Buffer): boolean;
  verify(curve: number, point: Buffer, hash: number, data: Buffer, signature: Buffer): number;
  createSigner(curve: number, d: Buffer, point: Buffer): unknown;
  sign(signer: unknown, hash: number, data: Buffer): Buffer;
}

export type NativeCurve = 'P-256' | 'P-384';
export type NativeHash = 'sha256' | 'sha384' | 'sha512';

const CURVE_INDEX: Record<NativeCurve, number> = { 'P-256': 0, 'P-384': 1 };
const HASH_INDEX: Record<string, number> = { sha256: 0, sha384: 1, sha512: 2 };

/** An opaque handle on a private key held by the native side. */
export interface NativeSigner {
  readonly curve: NativeCurve;
  readonly handle: unknown;
}

/** The outcome of a native verify. */
export type NativeVerifyResult = 'valid' | 'invalid' | 'bad-point' | 'bad-signature';

export interface NativeEcdsa {
  /** True when `point` (0x04 ‖ X ‖ Y) is on the curve and not infinity. */
  pointValid(curve: NativeCurve, point: Buffer): boolean;
  verify(
    curve: NativeCurve,
    point: Buffer,
    hash: NativeHash,
    data: Buffer,
    signature: Buffer,
  ): NativeVerifyResult;
  /** Throws unless `d` is in [1, n−1] and d·G = `point`. */
  createSigner(curve: NativeCurve, d: Buffer, point: Buffer): NativeSigner;
  sign(signer: NativeSigner, hash: NativeHash, data: Buffer): Buffer;
}

const ADDON = join('build', 'Release', 'meshca_native.node');

/** Looks for the built addon from this file up to the package root (src/ and dist/ alike). */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'package.json'))) return undefined;
    dir = dirname(dir);
  }
  return undefined;
}

function wrap(b: Binding): NativeEcdsa {
  const results: Record<number, NativeVerifyResult> = {
    1: 'valid',
    0: 'invalid',
    [-1]: 'bad-point',
    [-2]: 'bad-signature',
  };
  return {
    pointValid: (curve, point) => b.pointValid(CURVE_INDEX[curve], point),
    verify: (curve, point, hash, data, signature) =>
      results[b.verify(CURVE_INDEX[curve], point, HASH_INDEX[hash] ?? -1, data, signature)] ?? 'invalid',
    createSigner: (curve, d, point) => ({ curve, handle: b.createSigner(CURVE_INDEX[curve], d, point) }),
    sign: (signer, hash, data) => b.sign(signer.handle, HASH_INDEX[hash] ?? -1, data),
  };
}

let state: { native: NativeEcdsa | undefined; reason: string } | undefined;
let enabled = process.env.MESHCA_NATIVE !== 'off';

function load(): { native: NativeEcdsa | undefined; reason: string } {
  if (!enabled) return { native: undefined, reason: 'turned off (MESHCA_NATIVE=off)' };
  const path = findAddon();
  if (path === undefined)
    return { native: undefined, reason: `not built (no ${ADDON}; run npm ci or npm rebuild)` };
  try {
    const binding = createRequire(import.meta.url)(path) as Binding;
    return { native: wrap(binding), reason: `loaded from ${path}` };
  } catch (err) {
    return { native: undefined, reason: `cannot be loaded: ${(err as Error).message}` };
  }
}

/** The native path, or undefined when it is not built, cannot load, or is turned off. */
export function nativeEcdsa(): NativeEcdsa | undefined {
  state ??= load();
  return state.native;
}

/** Whether the native path is in use, and why (for `meshca version` and the startup log). */
export function nativeEcdsaStatus(): { active: boolean; reason: string } {
  state ??= load();
  return { active: state.native !== undefined, reason: state.reason };
}

/**
 * Turns the native path on or off for this thread (tests and bench/sign compare both paths).
 * The operator's switch is the environment variable MESHCA_NATIVE=off.
 */
export function setNativeEcdsaEnabled(on: boolean): void {
  enabled = on;
  state = undefined;
}
