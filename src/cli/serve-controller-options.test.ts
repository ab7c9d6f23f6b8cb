import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServeOptions } from './commands/serve-options.js';
import { resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from './commands/serve-options.js';
import { CliHarness } from './testing/cli-harness.js';

let cli: CliHarness;
beforeEach(() => {
  cli = new CliHarness();
});
afterEach(() => cli.cleanup());

const none = (): Record<ServeSetting, string | undefined> =>
  Object.fromEntries(Object.keys(SERVE_SETTINGS).map((k) => [k, undefined])) as Record<
    ServeSetting,
    string | undefined
  >;

/** Runs `meshca serve <args>` with a fake server that records the options it was given. */
async function serveOptions(
  ...args: string[]
): Promise<{ code: number; stderr: string; options: ServeOptions | undefined }> {
  let options: ServeOptions | undefined;
  const run = await cli.runWith({ runServer: (o) => ((options = o), Promise.resolve()) }, 'serve', ...args);
  return { code: run.code, stderr: run.stderr, options };
}

describe('meshca serve controller settings', () => {
  it('runs the controllers with auto-approval and a 1h issuance backoff base by default', () => {
    expect(resolveServeOptions(none(), '/home')).toMatchObject({
      controller: true,
      disableAutoApproval: false,
      issuanceBackoffBaseMs: 3_600_000,
    });
  });

  it('takes --disable-auto-approval alone as true, and true or false as a value', async () => {
    expect((await serveOptions('--disable-auto-approval')).options?.disableAutoApproval).toBe(true);
    expect((await serveOptions('--disable-auto-approval', 'false')).options?.disableAutoApproval).toBe(false);
    expect((await serveOptions('--controller', 'false')).options?.controller).toBe(false);
  });

  it('reads the settings from a config file too', () => {
    expect(
      resolveServeOptions({ ...none(), issuanceBackoffBase: '90s', controller: 'false' }, '/home'),
    ).toMatchObject({
      issuanceBackoffBaseMs: 90_000,
      controller: false,
    });
  });

  it.each<[Partial<Record<ServeSetting, string>>, string]>([
    [{ disableAutoApproval: 'yes' }, '--disable-auto-approval: "yes" is neither true nor false'],
    [{ controller: 'on' }, '--controller: "on" is neither true nor false'],
    [{ issuanceBackoffBase: '0s' }, '--issuance-backoff-base must be longer than zero'],
    [{ issuanceBackoffBase: 'soon' }, '--issuance-backoff-base:'],
    [
      { leaderElectionLeaseDuration: '500ms' },
      '--leader-election-lease-duration: "500ms" is not between 1s and 1h',
    ],
    [
      { leaderElectionLeaseDuration: '2h' },
      '--leader-election-lease-duration: "2h" is not between 1s and 1h',
    ],
    [{ issuanceBackoffBase: '9'.repeat(5000) + 'h' }, '--issuance-backoff-base:'],
  ])('refuses %j with a message naming the flag', (raw, message) => {
    expect(() => resolveServeOptions({ ...none(), ...raw }, '/home')).toThrow(message);
  });

  it('refuses a bad value given on the command line with a usage error', async () => {
    const r = await serveOptions('--disable-auto-approval', 'maybe');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--disable-auto-approval: "maybe" is neither true nor false');
    expect(r.options).toBeUndefined();
  });
});
