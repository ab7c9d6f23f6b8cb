import type { Command } from 'commander';
import { stringify } from 'yaml';
import { resolveKind } from '../../api/kinds.js';
import type { Event } from '../../api/event.js';
import type { Resource } from '../../api/resource.js';
import { parseCertificates } from '../../pki/index.js';
import type { Store } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { str, table, timeLeft } from '../format.js';
import { defaultNamespace } from '../namespace.js';
import { eventsOf, renderEvents } from '../object-events.js';
import { withStore } from '../with-store.js';

interface Condition {
  type: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** `meshca describe <kind> <name>`: everything about one resource, readable, secrets' values hidden. */
export function registerDescribe(program: Command, ctx: CliContext): void {
  program
    .command('describe')
    .description('show one resource in detail: metadata, spec, conditions, and for certificates their validity')
    .argument('<kind>', 'resource type (certificate, issuer, secret, …)')
    .argument('<name>', 'resource name')
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .option(
      '--cluster-resource-namespace <ns>',
      'where a ClusterIssuer\'s Secrets live (as meshca serve --cluster-resource-namespace)',
      DEFAULT_CLUSTER_RESOURCE_NAMESPACE,
    )
    .action(async (kindName: string, name: string, flags: DescribeFlags, cmd: Command) => {
      const info = resolveKind(kindName);
      const namespace = info.namespaced ? (flags.namespace ?? defaultNamespace(ctx)) : undefined;
      await withStore(cmd, ctx, async (store) => {
        const r = await store.get({ apiVersion: info.apiVersion, kind: info.kind, name, ...(namespace !== undefined && { namespace }) });
        let text = renderDescription(r, ctx.now(), await eventsOf(store, r));
        if (r.kind === 'ClusterIssuer') text = await withClusterResourceNamespace(store, r, text, flags.clusterResourceNamespace);
        ctx.stdout.write(text);
      });
    });
}

/** cert-manager's default cluster-resource namespace. */
export const DEFAULT_CLUSTER_RESOURCE_NAMESPACE = 'cert-manager';

interface DescribeFlags {
  namespace?: string;
  clusterResourceNamespace: string;
}

// A ClusterIssuer names Secrets without a namespace; say where they are looked up and whether they are there.
async function withClusterResourceNamespace(store: Store, r: Resource, text: string, namespace: string): Promise<string> {
  const spec = (r['spec'] ?? {}) as { ca?: { secretName?: string } };
  const lines = [`Secrets namespace:  ${namespace} (the cluster-resource namespace; meshca serve --cluster-resource-namespace)`];
  const secretName = spec.ca?.secretName;
  if (secretName !== undefined) {
    const found = await store.tryGet({ apiVersion: 'v1', kind: 'Secret', name: secretName, namespace });
    lines.push(`CA Secret:          ${namespace}/${secretName}${found === undefined ? ' (not found: apply it in that namespace)' : ''}`);
  }
  const at = text.indexOf('Events:');
  return `${text.slice(0, at)}${lines.join('\n')}\n${text.slice(at)}`;
}

function indent(text: string, by: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** The text describe prints for a resource. */
export function renderDescription(r: Resource, now: Date, events: readonly Event[] = []): string {
  const out: string[] = [];
  const m = r.metadata;
  out.push(`Name:         ${m.name}`);
  if (m.namespace !== undefined) out.push(`Namespace:    ${m.namespace}`);
  out.push(`API Version:  ${r.apiVersion}`);
  out.push(`Kind:         ${r.kind}`);
  out.push(`Labels:       ${Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>'}`);
  out.push(`Annotations:  ${Object.entries(m.annotations ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>'}`);
  if (m.creationTimestamp !== undefined) out.push(`Created:      ${m.creationTimestamp}`);
  if (m.resourceVersion !== undefined) out.push(`Version:      ${m.resourceVersion} (generation ${m.generation ?? 1})`);

  if (r.kind === 'Secret') {
    out.push(`Type:         ${str(r['type']) || 'Opaque'}`);
    out.push('Data:');
    const data = (r['data'] ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(data)) out.push(`  ${k}: ${Buffer.from(v, 'base64').length} bytes`);
    const crt = data['tls.crt'];
    if (crt !== undefined) {
      try {
        const certs = parseCertificates(Buffer.from(crt, 'base64').toString('utf8'));
        out.push('Certificates (tls.crt):');
        for (const c of certs) {
          out.push(`  ${c.subjectString || c.serialNumber}: not after ${c.notAfter.toISOString()} (${timeLeft(c.notAfter, now)})`);
        }
      } catch (err) {
        out.push(`Certificates (tls.crt): unreadable: ${(err as Error).message}`);
      }
    }
  } else if (r['spec'] !== undefined) {
    out.push('Spec:');
    out.push(indent(stringify(r['spec']), '  '));
  }

  const status = (r['status'] ?? undefined) as (Record<string, unknown> & { conditions?: Condition[] }) | undefined;
  if (status !== undefined) {
    const { conditions, ...rest } = status;
    if (conditions !== undefined && conditions.length > 0) {
      out.push('Conditions:');
      out.push(
        indent(
          table(
            ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
            conditions.map((c) => [c.type, c.status ?? '', c.reason ?? '', c.lastTransitionTime ?? '', c.message ?? '']),
          ),
          '  ',
        ),
      );
    }
    if (typeof rest['notAfter'] === 'string') {
      rest['notAfter'] = `${rest['notAfter']} (${timeLeft(new Date(rest['notAfter']), now)})`;
    }
    if (typeof rest['renewalTime'] === 'string') {
      rest['renewalTime'] = `${rest['renewalTime']} (${timeLeft(new Date(rest['renewalTime']), now).replace('expired', 'due')})`;
    }
    if (Object.keys(rest).length > 0) {
      out.push('Status:');
      out.push(indent(stringify(rest), '  '));
    }
  }
  return out.join('\n') + '\n' + renderEvents(events, now);
}
