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

/** The one place where concrete parts are wired together: the real clock, files, streams and store. */
export async function main(argv: readonly string[]): Promise<number> {
  // The first SIGINT/SIGTERM asks a long-running command to stop cleanly; `once`, so a second one kills.
  const shutdown = new AbortController();
  const stop = (): void => shutdown.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    version: readVersion(),
    openStore: (home, options) => Promise.resolve(openHomeStore(home, options)),
    stdin: () => readLimited(process.stdin, MAX_MANIFEST_BYTES),
    signal: shutdown.signal,
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
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
