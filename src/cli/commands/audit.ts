import type { Command } from 'commander';
import { parseGoDuration } from '../../api/go-duration.js';
import type { CliContext } from '../context.js';
import { parseOutputFlag } from '../flags.js';
import { table } from '../format.js';
import { usageError } from '../usage-error.js';
import { withStore } from '../with-store.js';

interface AuditFlags {
  identity?: string;
  since?: string;
  until?: string;
  limit: string;
  output: string;
}

/** A point in time: RFC 3339, or a Go duration meaning that long ago. */
function instant(flag: string, value: string, now: Date): Date {
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t);
  } else {
    try {
      return new Date(now.getTime() - parseGoDuration(value));
    } catch {
      // fall through to the usage error
    }
  }
  throw usageError(`${flag}: ${JSON.stringify(value)} is neither an RFC 3339 time nor a duration`, 'for example 2026-11-22T10:00:00Z, or 1h for an hour ago');
}

/** `meshca audit`: the certificates the CA server issued, newest first. */
export function registerAudit(program: Command, ctx: CliContext): void {
  program
    .command('audit')
    .description('list issued workload certificates from the audit log, newest first')
    .option('--identity <spiffe-id>', 'only this SPIFFE ID')
    .option('--since <time>', 'only issued at or after: RFC 3339, or a duration ago (1h)')
    .option('--until <time>', 'only issued before: RFC 3339, or a duration ago')
    .option('--limit <n>', 'at most this many (1–10000)', '100')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (flags: AuditFlags, cmd: Command) => {
      const now = ctx.now();
      const limit = Number(flags.limit);
      if (!/^\d+$/.test(flags.limit) || limit < 1 || limit > 10_000) throw usageError(`--limit: ${JSON.stringify(flags.limit)} is not a whole number from 1 to 10000`);
      const format = parseOutputFlag(flags.output);
      if (format === 'yaml') throw usageError('-o: audit prints table or json');
      const since = flags.since === undefined ? undefined : instant('--since', flags.since, now);
      const until = flags.until === undefined ? undefined : instant('--until', flags.until, now);
      await withStore(cmd, ctx, async (store) => {
        const records = await store.listAudit({
          limit,
          ...(flags.identity !== undefined && { identity: flags.identity }),
          ...(since !== undefined && { since }),
          ...(until !== undefined && { until }),
        });
        if (format === 'json') {
          ctx.stdout.write(JSON.stringify(records, null, 2) + '\n');
          return;
        }
        if (records.length === 0) {
          ctx.stderr.write('no audit records match\n');
          return;
        }
        ctx.stdout.write(
          table(
            ['ISSUED AT', 'IDENTITY', 'SERIAL', 'NOT AFTER', 'CLUSTER', 'CALLER'],
            records.map((r) => [r.issuedAt, r.identity, r.serialNumber, r.notAfter, r.clusterId, r.caller]),
          ),
        );
      });
    });
}
