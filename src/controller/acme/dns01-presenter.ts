import type { Challenge } from '../../api/acme-challenge.js';
import type { Resource } from '../../api/resource.js';
import { MeshcaError, isMeshcaError } from '../../errors/index.js';
import {
  TSIG_ALGORITHMS,
  sendTxtUpdate,
  type DnsUpdateTarget,
} from '../../issuers/acme/rfc2136/dns-update.js';
import type { ReconcileContext } from '../runtime/controller.js';
import { SECRET, keyOf } from '../certificates/resource-types.js';

type ChallengeObject = Challenge & Resource;

/** The DNS-01 record name of a challenge (RFC 8555 §8.4): `_acme-challenge.<name>`. */
export function dns01RecordName(dnsName: string): string {
  return `_acme-challenge.${dnsName.replace(/^\*\./, '').replace(/\.$/, '')}`;
}

/** The zones to try for a record, most specific first: the selector's matching zones, else every parent. */
export function candidateZones(recordName: string, selectorZones: readonly string[] | undefined): string[] {
  const name = recordName.toLowerCase();
  const matching = (selectorZones ?? [])
    .map((z) => z.toLowerCase().replace(/\.$/, ''))
    .filter((z) => name.endsWith(`.${z}`));
  if (matching.length > 0) return matching.sort((a, b) => b.length - a.length);
  const labels = name.split('.');
  const out: string[] = [];
  for (let i = 1; i < labels.length - 1; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** Presents and cleans up DNS-01 challenges through RFC 2136 dynamic updates. */
export function dns01Presenter(clusterResourceNamespace: string): {
  present(c: ChallengeObject, ctx: ReconcileContext): Promise<void>;
  cleanup(c: ChallengeObject, ctx: ReconcileContext): Promise<void>;
} {
  const target = async (c: ChallengeObject, ctx: ReconcileContext): Promise<DnsUpdateTarget> => {
    const rfc = c.spec.solver.dns01?.rfc2136;
    if (rfc === undefined) {
      const provider = Object.keys(c.spec.solver.dns01 ?? {}).find((k) => k !== 'cnameStrategy') ?? 'none';
      throw new MeshcaError(
        'ISSUER_INVALID',
        `the dns01 provider "${provider}" of this solver is not one meshca drives`,
        {
          hint: 'use dns01.rfc2136 (any RFC 2136 server: BIND, Knot, PowerDNS) or an HTTP-01 solver',
        },
      );
    }
    let key: DnsUpdateTarget['key'];
    if (rfc.tsigKeyName !== undefined && rfc.tsigKeyName !== '') {
      const ref = rfc.tsigSecretSecretRef;
      if (ref === undefined)
        throw new MeshcaError('ISSUER_INVALID', 'rfc2136.tsigKeyName is set without tsigSecretSecretRef', {
          hint: 'name the Secret holding the TSIG secret',
        });
      const namespace =
        c.spec.issuerRef.kind === 'ClusterIssuer' ? clusterResourceNamespace : (c.metadata.namespace ?? '');
      const secret = await ctx.store.tryGet<Resource>(keyOf(SECRET, namespace, ref.name));
      const value = (secret?.['data'] as Record<string, unknown> | undefined)?.[ref.key ?? ''];
      if (typeof value !== 'string') {
        throw new MeshcaError(
          'ISSUER_NOT_READY',
          `the TSIG Secret ${namespace}/${ref.name} (key ${ref.key ?? ''}) does not exist`,
          { hint: 'create it with the base64 TSIG secret' },
        );
      }
      // The Secret holds the secret as BIND prints it (base64 text), itself base64 in `data`.
      const secretBytes = Buffer.from(Buffer.from(value, 'base64').toString('utf8').trim(), 'base64');
      key = { name: rfc.tsigKeyName, algorithm: rfc.tsigAlgorithm ?? 'HMACMD5', secret: secretBytes };
      if (TSIG_ALGORITHMS[key.algorithm] === undefined)
        throw new MeshcaError('ISSUER_INVALID', `tsigAlgorithm ${key.algorithm} is unknown`);
    }
    return {
      nameserver: rfc.nameserver,
      ...(rfc.protocol !== undefined && { protocol: rfc.protocol }),
      ...(key !== undefined && { key }),
    };
  };
  const change = async (
    c: ChallengeObject,
    ctx: ReconcileContext,
    action: 'add' | 'delete',
  ): Promise<void> => {
    const t = await target(c, ctx);
    const name = dns01RecordName(c.spec.dnsName);
    let last: unknown;
    for (const zone of candidateZones(name, c.spec.solver.selector?.dnsZones)) {
      try {
        await sendTxtUpdate(t, { zone, name, value: c.spec.key, action }, ctx.now());
        return;
      } catch (err) {
        last = err;
        // NOTZONE / NOTAUTH: the server does not hold this zone; try the parent.
        if (!(isMeshcaError(err, 'UPSTREAM_REJECTED') && /NOTZONE|NOTAUTH|not TSIG-signed/.test(err.message)))
          throw err;
      }
    }
    if (last instanceof Error) throw last;
    throw new MeshcaError('ISSUER_INVALID', `${name} has no parent zone to update`);
  };
  return {
    present: (c, ctx) => change(c, ctx, 'add'),
    cleanup: (c, ctx) => change(c, ctx, 'delete'),
  };
}
