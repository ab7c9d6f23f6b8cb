import type { Store } from '../store/store.js';
import type { ServeOptions } from './commands/serve-options.js';

/** A writable text stream (process.stdout, or a buffer in tests). */
export interface Output {
  write(text: string): unknown;
}

/** Everything a command needs from the outside world, injected by src/main.ts (or a test). */
export interface CliContext {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** The current instant. */
  readonly now: () => Date;
  /**
   * Opens the store of a meshca home folder. With `create` the folder (0700) and store are made
   * when absent; without it a folder that holds no store is a NOT_FOUND error naming it.
   */
  readonly openStore: (home: string, options: { readonly create: boolean }) => Promise<Store>;
  /** The program's version. */
  readonly version: string;
  /** Reads all of standard input (for `-f -`), refusing more than a manifest file may hold; absent where there is none. */
  readonly stdin?: () => Promise<string>;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop cleanly. */
  readonly signal?: AbortSignal;
  /** Runs `meshca serve` until `signal` aborts (wired in src/main.ts: it joins the CA server and the HTTP server). */
  readonly runServer?: (options: ServeOptions, signal: AbortSignal) => Promise<void>;
  /** Runs `meshca demo` (wired in src/main.ts). */
  readonly runDemo?: (options: { durationMs: number; lifetimeMs: number; home?: string }, signal: AbortSignal) => Promise<void>;
}
