import type { Command } from 'commander';
import type { Store } from '../store/store.js';
import type { CliContext } from './context.js';
import { resolveHome } from './home.js';
import type { GlobalOptions } from './usage-error.js';

/** The home folder chosen by the global flags of `cmd`. */
export function homeOf(cmd: Command, ctx: CliContext): string {
  return resolveHome(cmd.optsWithGlobals<GlobalOptions>().home, ctx.env, ctx.cwd);
}

/**
 * Opens the store of the home chosen by the global flags, runs `fn`, and always closes it. The
 * home must exist unless `create` (for the commands that start a home: init, apply).
 */
export async function withStore<T>(
  cmd: Command,
  ctx: CliContext,
  fn: (store: Store, home: string) => Promise<T>,
  options: { readonly create: boolean } = { create: false },
): Promise<T> {
  const home = homeOf(cmd, ctx);
  const store = await ctx.openStore(home, options);
  try {
    return await fn(store, home);
  } finally {
    await store.close();
  }
}
