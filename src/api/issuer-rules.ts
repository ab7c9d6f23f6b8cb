import { DNS01_PROVIDERS, ISSUER_TYPES } from './issuer.js';
import { asRecord } from './raw.js';
import type { ValidationIssue } from './validation-issue.js';
import { checkEmailAddress } from './value-rules.js';

const VAULT_AUTH = ['tokenSecretRef', 'appRole', 'kubernetes', 'clientCertificate'] as const;

// Names the set fields among `names`, for "exactly one of" rules.
const present = (obj: Readonly<Record<string, unknown>>, names: readonly string[]): string[] =>
  names.filter((n) => obj[n] !== undefined && obj[n] !== null);

function exactlyOne(
  obj: Readonly<Record<string, unknown>>,
  names: readonly string[],
  path: ReadonlyArray<string | number>,
  what: string,
  issues: ValidationIssue[],
): void {
  const set = present(obj, names);
  if (set.length === 1) return;
  issues.push({
    path,
    message:
      set.length === 0
        ? `${what}: set exactly one of ${names.join(', ')}`
        : `${what}: set exactly one of ${names.join(', ')}, not ${set.join(' and ')}`,
  });
}

/**
 * Rules of an Issuer or ClusterIssuer spec across fields: exactly one issuer type, exactly one
 * Vault auth method, exactly one solver type per ACME solver, a valid ACME e-mail.
 */
export function issuerSpecIssues(rawSpec: unknown): ValidationIssue[] {
  const spec = asRecord(rawSpec);
  if (spec === undefined) return [];
  const issues: ValidationIssue[] = [];
  exactlyOne(spec, ISSUER_TYPES, ['spec'], 'an issuer has one type', issues);

  const vault = asRecord(spec.vault);
  const auth = asRecord(vault?.auth);
  if (auth !== undefined)
    exactlyOne(auth, VAULT_AUTH, ['spec', 'vault', 'auth'], 'vault needs one way to log in', issues);

  const acme = asRecord(spec.acme);
  if (typeof acme?.email === 'string' && acme.email !== '') {
    const why = checkEmailAddress(acme.email);
    if (why !== undefined) issues.push({ path: ['spec', 'acme', 'email'], message: why });
  }
  const solvers = acme?.solvers;
  if (Array.isArray(solvers)) {
    solvers.forEach((raw, i) => {
      const solver = asRecord(raw);
      if (solver === undefined) return;
      const path = ['spec', 'acme', 'solvers', i];
      exactlyOne(solver, ['http01', 'dns01'], path, 'a solver answers one challenge type', issues);
      const http01 = asRecord(solver.http01);
      if (http01 !== undefined) {
        exactlyOne(
          http01,
          ['ingress', 'gatewayHTTPRoute'],
          [...path, 'http01'],
          'http01 serves through one route',
          issues,
        );
      }
      const dns01 = asRecord(solver.dns01);
      if (dns01 !== undefined)
        exactlyOne(dns01, DNS01_PROVIDERS, [...path, 'dns01'], 'dns01 uses one DNS provider', issues);
    });
  }
  return issues;
}
