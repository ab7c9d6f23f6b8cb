import type { Command } from 'commander';
import { nativeEcdsaStatus } from '../../pki/index.js';
import type { CliContext } from '../context.js';

/** `meshca version`: the program's version, the Node.js it runs on, and whether the native ECDSA path is in use. */
export function registerVersion(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('print the meshca version')
    .action(() => {
      const native = nativeEcdsaStatus();
      ctx.stdout.write(
        `meshca ${ctx.version} (node ${process.versions.node}, openssl ${process.versions.openssl})\n` +
          `native ECDSA path: ${native.active ? 'on' : 'off'}, ${native.reason}\n`,
      );
    });
}
