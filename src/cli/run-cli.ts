import { Command, CommanderError } from 'commander';
import { ERROR_CODES, toMeshcaError } from '../errors/index.js';
import type { CliContext } from './context.js';
import { registerCommands } from './commands/index.js';
import type { GlobalOptions } from './usage-error.js';

/**
 * Runs the meshca command line and returns its exit code: 0 success, 1 failure, 2 usage error.
 * Errors print as one line plus a hint; the stack only with --debug.
 */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const program = new Command('meshca');
  program
    .description('meshca: the certificate authority of a service mesh')
    .option('--home <dir>', 'meshca home folder (default $MESHCA_HOME, else ./.meshca)')
    .option('--debug', 'print stack traces of errors')
    .version(ctx.version, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride();
  registerCommands(program, ctx);
  // Subcommands inherit the output configuration and the throwing exit.
  for (const cmd of program.commands) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    });
    cmd.showHelpAfterError('(run with --help for usage)');
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version displays are a success; everything else commander reports is usage.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return 0;
      }
      return 2;
    }
    const debug = program.opts<GlobalOptions>().debug === true || argv.includes('--debug');
    return reportError(err, ctx, debug);
  }
}

/** Prints an error the way the CLI promises and returns its exit code. */
export function reportError(err: unknown, ctx: CliContext, debug: boolean): number {
  const e = toMeshcaError(err);
  ctx.stderr.write(`error: ${e.message}\n`);
  for (const line of e.details) ctx.stderr.write(`  ${line}\n`);
  if (e.hint !== undefined) ctx.stderr.write(`hint: ${e.hint}\n`);
  else if (e.code === 'INTERNAL' && !debug) ctx.stderr.write('hint: run again with --debug for the stack trace\n');
  if (debug) {
    ctx.stderr.write(`code: ${e.code}\n`);
    const stack = (e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack;
    if (stack !== undefined) ctx.stderr.write(`${stack}\n`);
  }
  return ERROR_CODES[e.code].exit;
}
