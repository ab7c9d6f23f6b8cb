import type { Command } from 'commander';
import { stringify } from 'yaml';
import { resolveKind, type KindInfo } from '../../api/kinds.js';
import type { Resource } from '../../api/resource.js';
import type { CliContext } from '../context.js';
import { age, str, table } from '../format.js';
import { parseOutputFlag } from '../flags.js';
import { defaultNamespace } from '../namespace.js';
import { withStore } from '../with-store.js';

interface GetFlags {
  namespace?: string;
  allNamespaces?: boolean;
  output: string;
  selector?: string;
}

/** `meshca get <kind> [name]`: lists or shows resources, as a table, YAML or JSON (Secrets Kubernetes-shaped). */
export function registerGet(program: Command, ctx: CliContext): void {
  program
    .command('get')
    .description('list resources of a kind, or show one')
    .argument('<kind>', 'certificate|cert, certificaterequest|cr, issuer, clusterissuer, secret, configmap|cm, order, challenge, meshcaconfig')
    .argument('[name]', 'one resource')
    .option('-n, --namespace <ns>', 'namespace (default $MESHCA_NAMESPACE, else istio-system)')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (kindName: string, name: string | undefined, flags: GetFlags, cmd: Command) => {
      const info = resolveKind(kindName);
      const format = parseOutputFlag(flags.output);
      const namespace = info.namespaced ? (flags.namespace ?? defaultNamespace(ctx)) : undefined;
      await withStore(cmd, ctx, async (store) => {
        let items: Resource[];
        if (name !== undefined) {
          items = [await store.get({ apiVersion: info.apiVersion, kind: info.kind, name, ...(namespace !== undefined && { namespace }) })];
        } else {
          const list = await store.list(info, {
            ...(namespace !== undefined && flags.allNamespaces !== true && { namespace }),
            ...(flags.selector !== undefined && { labelSelector: flags.selector }),
          });
          items = list.items;
        }
        if (format === 'json' || format === 'yaml') {
          const doc = name !== undefined ? items[0] : { apiVersion: 'v1', kind: 'List', items };
          ctx.stdout.write(format === 'json' ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc));
          return;
        }
        if (items.length === 0) {
          ctx.stderr.write(`no ${info.plural} found${namespace !== undefined && flags.allNamespaces !== true ? ` in namespace ${namespace}` : ''}\n`);
          return;
        }
        ctx.stdout.write(renderTable(info, items, ctx.now(), flags.allNamespaces === true && info.namespaced));
      });
    });
}

function condition(r: Resource, type: string): { status?: string; reason?: string; message?: string } | undefined {
  const status = r['status'] as { conditions?: { type: string; status?: string; reason?: string; message?: string }[] } | undefined;
  return status?.conditions?.find((c) => c.type === type);
}

function created(r: Resource, now: Date): string {
  const ts = r.metadata.creationTimestamp;
  return ts === undefined ? '<unknown>' : age(new Date(ts), now);
}

/** kubectl-like columns per kind. */
export function renderTable(info: KindInfo, items: readonly Resource[], now: Date, withNamespace: boolean): string {
  let headers: string[];
  let row: (r: Resource) => string[];
  const spec = (r: Resource): Record<string, unknown> => (r['spec'] ?? {}) as Record<string, unknown>;
  switch (info.kind) {
    case 'Certificate':
      headers = ['NAME', 'READY', 'SECRET', 'ISSUER', 'NOT AFTER', 'AGE'];
      row = (r) => {
        const s = spec(r);
        const st = (r['status'] ?? {}) as { notAfter?: string };
        return [
          r.metadata.name,
          condition(r, 'Ready')?.status ?? 'Unknown',
          str(s['secretName']),
          String((s['issuerRef'] as { name?: string } | undefined)?.name ?? ''),
          st.notAfter ?? '',
          created(r, now),
        ];
      };
      break;
    case 'CertificateRequest':
      headers = ['NAME', 'APPROVED', 'DENIED', 'READY', 'ISSUER', 'AGE'];
      row = (r) => [
        r.metadata.name,
        condition(r, 'Approved')?.status ?? '',
        condition(r, 'Denied')?.status ?? '',
        condition(r, 'Ready')?.status ?? 'Unknown',
        String((spec(r)['issuerRef'] as { name?: string } | undefined)?.name ?? ''),
        created(r, now),
      ];
      break;
    case 'Issuer':
    case 'ClusterIssuer':
      headers = ['NAME', 'TYPE', 'READY', 'AGE'];
      row = (r) => [
        r.metadata.name,
        Object.keys(spec(r)).find((k) => ['selfSigned', 'ca', 'vault', 'acme'].includes(k)) ?? '',
        condition(r, 'Ready')?.status ?? 'Unknown',
        created(r, now),
      ];
      break;
    case 'Secret':
      headers = ['NAME', 'TYPE', 'DATA', 'AGE'];
      row = (r) => [
        r.metadata.name,
        str(r['type']) || 'Opaque',
        String(Object.keys(r['data'] ?? {}).length),
        created(r, now),
      ];
      break;
    case 'ConfigMap':
      headers = ['NAME', 'DATA', 'AGE'];
      row = (r) => [r.metadata.name, String(Object.keys(r['data'] ?? {}).length), created(r, now)];
      break;
    default:
      headers = ['NAME', 'READY', 'AGE'];
      row = (r) => [r.metadata.name, condition(r, 'Ready')?.status ?? '', created(r, now)];
  }
  if (withNamespace) {
    const inner = row;
    headers = ['NAMESPACE', ...headers];
    row = (r) => [r.metadata.namespace ?? '', ...inner(r)];
  }
  return table(headers, items.map(row));
}
