import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openHomeStore } from '../../store/sqlite/home-store.js';
import type { Store } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { runCli } from '../run-cli.js';

/** The outcome of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against a temporary home folder with an injected clock. */
export class CliHarness {
  readonly dir: string;
  readonly home: string;
  now: Date;

  constructor(now = new Date('2026-11-22T12:00:00Z')) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'meshca-cli-'));
    this.home = path.join(this.dir, 'home');
    this.now = now;
  }

  /** Runs `meshca <args>` with MESHCA_HOME pointing at the harness's home. */
  run(...args: string[]): Promise<CliRun> {
    return this.runWith({}, ...args);
  }

  /** Runs `meshca <args>` with parts of the context replaced (a fake runServer, say). */
  async runWith(over: Partial<CliContext>, ...args: string[]): Promise<CliRun> {
    let stdout = '';
    let stderr = '';
    const ctx: CliContext = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { MESHCA_HOME: this.home },
      cwd: this.dir,
      now: () => this.now,
      version: '0.0.0-test',
      openStore: (home, options) => this.openStore(home, options),
      ...over,
    };
    const code = await runCli(args, ctx);
    return { code, stdout, stderr };
  }

  /** Opens the store of a home folder (the harness's own by default), as `meshca` does. */
  openStore(home = this.home, options: { readonly create: boolean } = { create: true }): Promise<Store> {
    return Promise.resolve(openHomeStore(home, options));
  }

  /** Makes the harness's home with an empty store, as `meshca init` or `apply` would before writing. */
  async createHome(): Promise<void> {
    await (await this.openStore()).close();
  }

  /** Removes the temporary folder. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
