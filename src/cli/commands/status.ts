import type { Command } from 'commander';
import type { Condition } from '../../api/common-schemas.js';
import { getCondition } from '../../api/conditions.js';
import type { Event } from '../../api/event.js';
import { resolveKind } from '../../api/kinds.js';
import type { Resource } from '../../api/resource.js';
import { parseCertificates, type Certificate as ParsedCertificate } from '../../pki/index.js';
import type { Store } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { colonHex, timeLeft } from '../format.js';
import { defaultNamespace } from '../namespace.js';
import { eventsOf, renderEvents } from '../object-events.js';
import { usageError } from '../usage-error.js';
import { withStore } from '../with-store.js';

interface CertificateSpecView {
  secretName?: string;
  commonName?: string;
  dnsNames?: string[];
  uris?: string[];
  ipAddresses?: string[];
  emailAddresses?: string[];
  issuerRef?: { name?: string; kind?: string; group?: string };
}

interface CertificateStatusView {
  conditions?: Condition[];
  revision?: number;
  notBefore?: string;
  notAfter?: string;
  renewalTime?: string;
  failedIssuanceAttempts?: number;
  lastFailureTime?: string;
}

/** Everything `status certificate` shows, gathered from the store first so rendering is a pure function. */
export interface CertificateStatusReport {
  readonly certificate: Resource;
  readonly events: readonly Event[];
  /** The issuer, or undefined when it does not exist. */
  readonly issuer: Resource | undefined;
  /** Why the issuer is missing, for the report. */
  readonly issuerMissing: string;
  /** The Secret, or undefined when it does not exist. */
  readonly secret: Resource | undefined;
  /** The CertificateRequest of the issuance in progress, with its events. */
  readonly request: { readonly resource: Resource; readonly events: readonly Event[] } | undefined;
}

const conditionsOf = (r: Resource): Condition[] =>
  (r['status'] as { conditions?: Condition[] } | undefined)?.conditions ?? [];

/** Reads what `status certificate` shows about one Certificate. */
export async function gatherCertificateStatus(
  store: Store,
  namespace: string,
  name: string,
): Promise<CertificateStatusReport> {
  const certificate = await store.get({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    name,
    namespace,
  });
  const spec = (certificate['spec'] ?? {}) as CertificateSpecView;
  const status = (certificate['status'] ?? {}) as CertificateStatusView;
  const ref = spec.issuerRef ?? {};
  const issuerKind = ref.kind ?? 'Issuer';
  const issuerName = ref.name ?? '';
  const issuer = await store.tryGet({
    apiVersion: 'cert-manager.io/v1',
    kind: issuerKind,
    name: issuerName,
    ...(issuerKind === 'Issuer' && { namespace }),
  });
  const issuerMissing = `${issuerKind} ${JSON.stringify(issuerName)} not found${issuerKind === 'Issuer' ? ` in namespace ${namespace}` : ''}`;
  const secret =
    spec.secretName === undefined
      ? undefined
      : await store.tryGet({ apiVersion: 'v1', kind: 'Secret', name: spec.secretName, namespace });
  let request: CertificateStatusReport['request'];
  if (getCondition(status.conditions, 'Issuing')?.status === 'True') {
    // The request of the issuance in progress is that of the next revision (cert-manager's rule).
    const next = String((status.revision ?? 0) + 1);
    const crs = await store.list(
      { apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest' },
      { namespace },
    );
    const cr = crs.items.find(
      (r) =>
        r.metadata.annotations?.['cert-manager.io/certificate-revision'] === next &&
        (r.metadata.ownerReferences ?? []).some((o) => o.uid === certificate.metadata.uid),
    );
    if (cr !== undefined) request = { resource: cr, events: await eventsOf(store, cr) };
  }
  return { certificate, events: await eventsOf(store, certificate), issuer, issuerMissing, secret, request };
}

function conditionLines(conditions: readonly Condition[], by: string): string[] {
  if (conditions.length === 0) return [`${by}<none>`];
  return conditions.map(
    (c) =>
      `${by}${c.type}: ${c.status}, Reason: ${c.reason ?? ''}, Message: ${c.message ?? ''}${c.lastTransitionTime === undefined ? '' : ` (since ${c.lastTransitionTime})`}`,
  );
}

function list(label: string, values: readonly string[] | undefined): string[] {
  return values === undefined || values.length === 0 ? [] : [`${label}:`, ...values.map((v) => `- ${v}`)];
}

function secretLines(secret: Resource | undefined, name: string | undefined, now: Date): string[] {
  if (secret === undefined)
    return [
      `Secret:`,
      `  Name: ${name ?? '<none>'}`,
      '  error: the Secret does not exist yet (issuance has not completed)',
    ];
  const out = ['Secret:', `  Name: ${secret.metadata.name}`];
  const crt = (secret['data'] as Record<string, string> | undefined)?.['tls.crt'];
  if (crt === undefined) return [...out, '  error: the Secret holds no tls.crt'];
  let leaf: ParsedCertificate | undefined;
  try {
    leaf = parseCertificates(Buffer.from(crt, 'base64').toString('utf8'))[0];
  } catch (err) {
    return [...out, `  error: tls.crt cannot be read: ${(err as Error).message}`];
  }
  if (leaf === undefined) return [...out, '  error: tls.crt holds no certificate'];
  const key = leaf.keySpec;
  out.push(
    `  Issuer: ${leaf.issuerString}`,
    `  Subject: ${leaf.subjectString || '<empty>'}`,
    `  Not Before: ${leaf.notBefore.toISOString()}`,
    `  Not After: ${leaf.notAfter.toISOString()} (${timeLeft(leaf.notAfter, now)})`,
    `  Serial Number: ${leaf.serialNumber}`,
    `  Is a CA: ${leaf.isCA ? 'yes' : 'no'}`,
    `  Public Key: ${key.algorithm}${key.size === undefined ? '' : ` ${key.size}`}`,
    `  Key Usages: ${(leaf.keyUsages ?? []).join(', ') || '<none>'}`,
    `  Extended Key Usages: ${(leaf.extKeyUsages ?? []).join(', ') || '<none>'}`,
    `  SHA-256 Fingerprint: ${colonHex(leaf.fingerprintSha256)}`,
  );
  return out;
}

const indentBlock = (text: string, by: string): string[] =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l);

/** The text of `meshca status certificate`, in the order cmctl prints it. */
export function renderCertificateStatus(report: CertificateStatusReport, now: Date): string {
  const c = report.certificate;
  const spec = (c['spec'] ?? {}) as CertificateSpecView;
  const status = (c['status'] ?? {}) as CertificateStatusView;
  const out: string[] = [
    `Name: ${c.metadata.name}`,
    `Namespace: ${c.metadata.namespace ?? ''}`,
    `Created at: ${c.metadata.creationTimestamp ?? '<unknown>'}`,
    'Conditions:',
    ...conditionLines(status.conditions ?? [], '  '),
  ];
  if (spec.commonName !== undefined) out.push(`Common Name: ${spec.commonName}`);
  out.push(
    ...list('DNS Names', spec.dnsNames),
    ...list('URIs', spec.uris),
    ...list('IP Addresses', spec.ipAddresses),
    ...list('Email Addresses', spec.emailAddresses),
  );
  out.push(...renderEvents(report.events, now).trimEnd().split('\n'));

  out.push('Issuer:');
  const issuer = report.issuer;
  if (issuer === undefined) out.push(`  error: ${report.issuerMissing}`);
  else {
    const type = Object.keys(issuer['spec'] ?? {}).find((k) =>
      ['selfSigned', 'ca', 'vault', 'acme'].includes(k),
    );
    const ready = getCondition(conditionsOf(issuer), 'Ready');
    out.push(
      `  Name: ${issuer.metadata.name}`,
      `  Kind: ${issuer.kind}`,
      `  Type: ${type ?? '<unknown>'}`,
      `  Ready: ${ready === undefined ? 'Unknown (no Ready condition yet)' : `${ready.status}, Reason: ${ready.reason ?? ''}, Message: ${ready.message ?? ''}`}`,
    );
  }
  out.push(...secretLines(report.secret, spec.secretName, now));

  const when = (label: string, at: string | undefined, due = false): string =>
    at === undefined
      ? `${label}: <none>`
      : `${label}: ${at} (${due ? timeLeft(new Date(at), now).replace('expired', 'due') : timeLeft(new Date(at), now)})`;
  out.push(
    `Not Before: ${status.notBefore ?? '<none>'}`,
    when('Not After', status.notAfter),
    when('Renewal Time', status.renewalTime, true),
  );
  if (status.revision !== undefined) out.push(`Revision: ${status.revision}`);
  if (status.failedIssuanceAttempts !== undefined) {
    out.push(
      `Failed Issuance Attempts: ${status.failedIssuanceAttempts} (last at ${status.lastFailureTime ?? '<unknown>'})`,
    );
  }

  if (report.request === undefined) out.push('No CertificateRequest found for this Certificate');
  else {
    const cr = report.request.resource;
    out.push(
      'CertificateRequest:',
      `  Name: ${cr.metadata.name}`,
      `  Namespace: ${cr.metadata.namespace ?? ''}`,
      '  Conditions:',
      ...conditionLines(conditionsOf(cr), '    '),
      ...indentBlock(renderEvents(report.request.events, now), '  '),
    );
  }
  return out.join('\n') + '\n';
}

/** `meshca status certificate NAME`: the state of one Certificate and everything around it, like cmctl status. */
export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description(
      'show the state of a Certificate with its issuer, Secret, request and events (like cmctl status certificate)',
    )
    .argument('<kind>', 'certificate')
    .argument('<name>', 'the Certificate')
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .action(async (kindName: string, name: string, flags: { namespace?: string }, cmd: Command) => {
      if (resolveKind(kindName).kind !== 'Certificate') {
        throw usageError(
          `status shows certificates only, not ${kindName}`,
          'use `meshca describe` for other kinds',
        );
      }
      const namespace = flags.namespace ?? defaultNamespace(ctx);
      await withStore(cmd, ctx, async (store) => {
        ctx.stdout.write(
          renderCertificateStatus(await gatherCertificateStatus(store, namespace, name), ctx.now()),
        );
      });
    });
}
