import { formatGoDuration, parseGoDuration } from './go-duration.js';
import { asRecord } from './raw.js';
import type { ValidationIssue } from './validation-issue.js';

/** cert-manager's minimum certificate duration (MinimumCertificateDuration, 1h). */
export const MIN_CERTIFICATE_DURATION_MS = 3_600_000;
/** cert-manager's minimum renewBefore (MinimumRenewBefore, 5m). */
export const MIN_RENEW_BEFORE_MS = 300_000;
/** cert-manager's default certificate duration when spec.duration is omitted (90 days). */
export const DEFAULT_CERTIFICATE_DURATION_MS = 2160 * 3_600_000;

const IDENTITY_FIELDS = [
  'commonName',
  'dnsNames',
  'uris',
  'emailAddresses',
  'ipAddresses',
  'otherNames',
  'literalSubject',
] as const;
const RSA_MIN = 2048;
const RSA_MAX = 8192;
// The sizes meshca's key generator makes. cert-manager also accepts ECDSA 521 and odd RSA sizes:
// meshca does not yet sign a P-521 key's CSR with SHA-512 as cert-manager does, and OpenSSL makes
// RSA keys of even sizes only (docs/resources.md, differences from cert-manager).
const ECDSA_SIZES = [256, 384];
/** The secretTemplate annotation cert-manager lets users set under its own prefix. */
const ALLOWED_CERT_MANAGER_ANNOTATION = 'cert-manager.io/allow-direct-injection';
const SIGNATURE_ALGORITHMS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['SHA256WithRSA', 'SHA384WithRSA', 'SHA512WithRSA'],
  ECDSA: ['ECDSAWithSHA256', 'ECDSAWithSHA384', 'ECDSAWithSHA512'],
  Ed25519: ['PureEd25519'],
};

// Go duration in ms, or undefined when absent or malformed (the schema reports malformed ones).
function durationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseGoDuration(value);
  } catch {
    return undefined;
  }
}

const isSet = (value: unknown): boolean =>
  value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0);

/**
 * Rules of a Certificate spec that span fields (cert-manager's validation/certificate.go): an
 * identity is present, literalSubject stands alone, durations are ordered, the key size fits the
 * algorithm. Runs on unvalidated input and skips values the schema already reports.
 */
export function certificateSpecIssues(rawSpec: unknown): ValidationIssue[] {
  const spec = asRecord(rawSpec);
  if (spec === undefined) return [];
  const issues: ValidationIssue[] = [];
  const at = (path: ReadonlyArray<string | number>, message: string): void => {
    issues.push({ path: ['spec', ...path], message });
  };

  if (!IDENTITY_FIELDS.some((f) => isSet(spec[f]))) {
    at([], `a certificate needs an identity: set at least one of ${IDENTITY_FIELDS.join(', ')}`);
  }
  if (isSet(spec.literalSubject)) {
    for (const f of ['subject', 'commonName'] as const) {
      if (isSet(spec[f]))
        at(
          [f],
          'must not be set together with literalSubject, which gives the whole subject; move it into literalSubject',
        );
    }
  }

  const duration = durationMs(spec.duration);
  if (duration !== undefined && duration < MIN_CERTIFICATE_DURATION_MS) {
    at(
      ['duration'],
      `must be at least 1h (cert-manager's minimum certificate duration); it is ${String(spec.duration)}`,
    );
  }
  const renewBefore = durationMs(spec.renewBefore);
  const lifetime = duration ?? DEFAULT_CERTIFICATE_DURATION_MS;
  if (renewBefore !== undefined) {
    if (renewBefore < MIN_RENEW_BEFORE_MS) {
      at(['renewBefore'], `must be at least 5m; it is ${String(spec.renewBefore)}`);
    } else if (renewBefore >= lifetime) {
      at(
        ['renewBefore'],
        duration === undefined
          ? `must be less than the default duration 2160h (90 days); set a longer duration or a shorter renewBefore`
          : `must be less than duration (${String(spec.duration)}); shorten renewBefore or lengthen duration`,
      );
    }
  }
  const pct = spec.renewBeforePercentage;
  if (typeof pct === 'number' && (pct < 1 || pct > 99)) {
    at(['renewBeforePercentage'], `must be between 1 and 99 (a share of the lifetime); it is ${pct}`);
  }
  if (isSet(spec.renewBefore) && pct !== undefined) {
    at(['renewBeforePercentage'], 'must not be set together with renewBefore; keep one of them');
  } else if (typeof pct === 'number' && Number.isInteger(pct) && pct >= 1 && pct <= 99) {
    // As the renewal time is computed (and cert-manager validates): renewBefore = lifetime × pct / 100.
    if (lifetime * pct < MIN_RENEW_BEFORE_MS * 100) {
      const least = Math.ceil((MIN_RENEW_BEFORE_MS * 100) / lifetime);
      at(
        ['renewBeforePercentage'],
        `${pct}% of the ${duration === undefined ? 'default duration 2160h' : `duration ${String(spec.duration)}`} renews ${formatGoDuration((lifetime * pct) / 100)} before expiry, under the 5m minimum for renewBefore; ${least <= 99 ? `use at least ${least} or a longer duration` : 'use a longer duration'}`,
      );
    }
  }

  const key = asRecord(spec.privateKey);
  const algorithm = typeof key?.algorithm === 'string' ? key.algorithm : 'RSA';
  const size = key?.size;
  // Size 0 means the algorithm's default, and Ed25519 ignores the size, as in cert-manager.
  if (typeof size === 'number' && Number.isInteger(size) && size !== 0) {
    if (algorithm === 'RSA' && (size < RSA_MIN || size > RSA_MAX)) {
      at(['privateKey', 'size'], `must be between ${RSA_MIN} and ${RSA_MAX} for RSA keys; it is ${size}`);
    } else if (algorithm === 'RSA' && size % 2 !== 0) {
      at(
        ['privateKey', 'size'],
        `must be an even number of bits for RSA keys (meshca's key generator, OpenSSL, makes only even sizes); it is ${size}, use ${size - 1} or ${size + 1}`,
      );
    } else if (algorithm === 'ECDSA' && !ECDSA_SIZES.includes(size)) {
      at(
        ['privateKey', 'size'],
        size === 521
          ? 'must be 256 or 384 for ECDSA keys (the curves P-256 and P-384): meshca does not issue for P-521 keys, which cert-manager accepts; it is 521'
          : `must be 256 or 384 for ECDSA keys (the curves P-256 and P-384); it is ${size}`,
      );
    }
  }
  const sig = spec.signatureAlgorithm;
  const allowed = SIGNATURE_ALGORITHMS[algorithm];
  if (
    typeof sig === 'string' &&
    allowed !== undefined &&
    Object.values(SIGNATURE_ALGORITHMS).flat().includes(sig) &&
    !allowed.includes(sig)
  ) {
    at(['signatureAlgorithm'], `${sig} does not fit an ${algorithm} key; use one of ${allowed.join(', ')}`);
  }

  if (isSet(spec.nameConstraints) && spec.isCA !== true) {
    at(['nameConstraints'], 'applies only to CA certificates; set isCA: true or remove nameConstraints');
  }

  const keystores = asRecord(spec.keystores);
  for (const name of ['jks', 'pkcs12'] as const) {
    const store = asRecord(keystores?.[name]);
    if (store === undefined) continue;
    // cert-manager treats a passwordSecretRef with an empty name (Go clients write one) as unset.
    const hasRef = store.passwordSecretRef !== undefined && asRecord(store.passwordSecretRef)?.name !== '';
    const count = (store.password !== undefined ? 1 : 0) + (hasRef ? 1 : 0);
    if (count !== 1) {
      at(
        ['keystores', name],
        `needs exactly one of password and passwordSecretRef (it has ${count === 0 ? 'neither' : 'both'})`,
      );
    }
    if (store.password === '') {
      at(
        ['keystores', name, 'password'],
        'literal password cannot be empty; set a password or use passwordSecretRef',
      );
    }
  }
  if (asRecord(keystores?.jks)?.alias === '') {
    at(['keystores', 'jks', 'alias'], 'must not be empty; omit alias for the default "certificate"');
  }

  const annotations = asRecord(asRecord(spec.secretTemplate)?.annotations);
  for (const annotation of Object.keys(annotations ?? {})) {
    if (annotation.startsWith('cert-manager.io/') && annotation !== ALLOWED_CERT_MANAGER_ANNOTATION) {
      at(
        ['secretTemplate', 'annotations', annotation],
        `cert-manager.io/ annotations are reserved for the ones the controller writes on the Secret; use another prefix (only ${ALLOWED_CERT_MANAGER_ANNOTATION} may be set)`,
      );
    }
  }

  const formats = spec.additionalOutputFormats;
  if (Array.isArray(formats)) {
    const seen = new Set<unknown>();
    formats.forEach((f, i) => {
      const type = asRecord(f)?.type;
      if (type !== undefined && seen.has(type))
        at(['additionalOutputFormats', i, 'type'], `${JSON.stringify(type)} is listed twice; keep one`);
      seen.add(type);
    });
  }
  return issues;
}
