import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parseDurationFlag } from '../flags.js';
import { usageError } from '../usage-error.js';

/** `meshca demo`: a CA, two agents and two services talking mTLS, on a fresh embedded store. */
export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run a CA on a fresh embedded store, two workloads getting and renewing certificates, mTLS between them, one peer refused')
    .option('--duration <duration>', 'how long to run (Go duration)', '75s')
    .option('--lifetime <duration>', 'certificate lifetime the agents ask for; they renew at half of it', '60s')
    .option('--demo-home <dir>', 'home folder for the demo (default: a new temporary folder)')
    .action(async (flags: { duration: string; lifetime: string; demoHome?: string }) => {
      const durationMs = parseDurationFlag('--duration', flags.duration);
      const lifetimeMs = parseDurationFlag('--lifetime', flags.lifetime);
      if (lifetimeMs < 20_000) throw usageError('--lifetime must be at least 20s: the agent renews no sooner than 10s after an issuance');
      if (ctx.runDemo === undefined) throw usageError('this build of meshca cannot run the demo');
      await ctx.runDemo({ durationMs, lifetimeMs, ...(flags.demoHome !== undefined && { home: flags.demoHome }) }, ctx.signal ?? new AbortController().signal);
    });
}
