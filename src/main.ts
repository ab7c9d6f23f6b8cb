import { readFileSync } from 'node:fs';
import { runDemo } from './app/demo.js';
import { runServer } from './app/run-server.js';
import { MAX_MANIFEST_BYTES } from './api/manifest.js';
import { readLimited } from './cli/read-limited.js';
import { runCli } from './cli/run-cli.js';
import type { CliContext } from './cli/context.js';
import { openHomeStore } from './store/sqlite/home-store.js';

/** The version from package.json. */
function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Exit codes of a process ended by a second SIGINT or SIGTERM: 128 + the signal number, as a shell reports. */
const SIGNAL_EXIT: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * The shutdown signal of a long-running command. The SIGINT/SIGTERM handlers are installed only
 * when a command asks for it (serve, agent, demo read `ctx.signal`): every other command keeps
 * Node's default, so the first Ctrl-C ends it (`apply -f -` waiting on standard input, say). The
 * first signal of either kind aborts the signal, so the command stops cleanly; a second one, of
 * either kind, ends the process at once with 130 (SIGINT) or 143 (SIGTERM).
 */
export function shutdownSignal(): { readonly signal: () => AbortSignal; readonly uninstall: () => void } {
  const shutdown = new AbortController();
  let installed = false;
  const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
    if (!shutdown.signal.aborted) {
      shutdown.abort();
      return;
    }
    process.stderr.write(`meshca: ${name} again: exiting without finishing the shutdown\n`);
    process.exit(SIGNAL_EXIT[name]);
  };
  return {
    signal: () => {
      if (!installed) {
        installed = true;
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }
      return shutdown.signal;
    },
    uninstall: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The one place where concrete parts are wired together: the real clock, files, streams and store. */
export async function main(argv: readonly string[]): Promise<number> {
  const shutdown = shutdownSignal();
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    version: readVersion(),
    openStore: (home, options) => Promise.resolve(openHomeStore(home, options)),
    stdin: () => readLimited(process.stdin, MAX_MANIFEST_BYTES),
    // Read only by the long-running commands: reading it installs the signal handlers.
    get signal() {
      return shutdown.signal();
    },
    runServer: (options, signal) =>
      runServer(options, signal, {
        openStore: (home) => ctx.openStore(home, { create: true }),
        now: ctx.now,
        logSink: process.stderr,
        ...(process.env.MESHCA_CRASH_AT !== undefined && { crashAt: process.env.MESHCA_CRASH_AT }),
      }),
    runDemo: (options, signal) => runDemo(options, { out: process.stdout, openStore: (home) => ctx.openStore(home, { create: true }), signal }),
  };
  try {
    return await runCli(argv, ctx);
  } finally {
    shutdown.uninstall();
  }
}
