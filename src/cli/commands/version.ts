import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** `meshca version`: the program's version and the Node.js it runs on. */
export function registerVersion(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('print the meshca version')
    .action(() => {
      ctx.stdout.write(`meshca ${ctx.version} (node ${process.versions.node}, openssl ${process.versions.openssl})\n`);
    });
}
