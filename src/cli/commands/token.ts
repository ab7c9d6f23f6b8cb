import type { Command } from 'commander';
import { ensureTokenSigningKey, MESHCA_TOKEN_ISSUER } from '../../ca-server/auth/token-signing-key-store.js';
import { mintServiceAccountToken } from '../../ca-server/auth/mint-service-account-token.js';
import type { CliContext } from '../context.js';
import { parseDurationFlag } from '../flags.js';
import { usageError } from '../usage-error.js';
import { withStore } from '../with-store.js';

interface TokenFlags {
  namespace?: string;
  serviceAccount?: string;
  audience: string;
  ttl: string;
  certificateNamespace: string;
}

/** `meshca token create`: a service-account-shaped JWT for a workload outside Kubernetes, signed by meshca's token key. */
export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('tokens for workloads outside Kubernetes');
  token
    .command('create')
    .description('print a JWT for a workload identity, signed by meshca\'s token key (which meshca serve trusts)')
    .requiredOption('--namespace <ns>', 'the workload\'s namespace')
    .requiredOption('--service-account <sa>', 'the workload\'s service account')
    .option('--audience <aud>', 'token audiences (comma-separated)', 'istio-ca')
    .option('--ttl <duration>', 'token lifetime (Go duration)', '1h')
    .option('--certificate-namespace <ns>', 'namespace holding meshca\'s token key (as meshca serve)', 'istio-system')
    .action(async (flags: TokenFlags, cmd: Command) => {
      const ttlMs = parseDurationFlag('--ttl', flags.ttl);
      if (ttlMs > 366 * 24 * 3_600_000) throw usageError('--ttl is over a year; use a shorter-lived token and renew it');
      const audience = flags.audience.split(',').map((a) => a.trim()).filter((a) => a !== '');
      if (audience.length === 0) throw usageError('--audience needs at least one audience');
      await withStore(cmd, ctx, async (store) => {
        const { key, kid } = await ensureTokenSigningKey(store, flags.certificateNamespace);
        const jwt = await mintServiceAccountToken({
          key,
          kid,
          issuer: MESHCA_TOKEN_ISSUER,
          namespace: flags.namespace ?? '',
          serviceAccount: flags.serviceAccount ?? '',
          audience,
          ttlMs,
          now: ctx.now().getTime(),
        });
        ctx.stdout.write(`${jwt}\n`);
      });
    });
}
