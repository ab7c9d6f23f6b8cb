import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { usageError } from '../usage-error.js';
import { homeOf } from '../with-store.js';
import { readServeConfigFile, resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from './serve-options.js';

/** `meshca serve`: the Istio CA gRPC server plus metrics, health and the trust bundle over HTTP. */
export function registerServe(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('serve')
    .description('sign workload CSRs over the Istio CA gRPC API; serve metrics, health and the trust bundle')
    .option('--config <file>', 'YAML file of settings (camelCase keys, e.g. trustDomain); flags override it');
  for (const setting of Object.values(SERVE_SETTINGS)) {
    // A yes/no setting may stand alone (`--disable-auto-approval`) or take true|false.
    const value = 'boolean' in setting ? '[value]' : '<value>';
    cmd.option(`--${setting.flag} ${value}`, setting.default === undefined ? setting.help : `${setting.help} (default ${JSON.stringify(setting.default)})`);
  }
  cmd.action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
    const config = flags['config'];
    const fromFile = typeof config !== 'string' ? {} : readServeConfigFile(config, ctx.cwd);
    const raw = {} as Record<ServeSetting, string | undefined>;
    for (const key of Object.keys(SERVE_SETTINGS) as ServeSetting[]) {
      const flag = flags[key];
      raw[key] = flag === undefined ? fromFile[key] : String(flag);
    }
    const options = resolveServeOptions(raw, homeOf(command, ctx));
    if (ctx.runServer === undefined) throw usageError('this build of meshca cannot run a server');
    const signal = ctx.signal ?? new AbortController().signal;
    await ctx.runServer(options, signal);
  });
}
