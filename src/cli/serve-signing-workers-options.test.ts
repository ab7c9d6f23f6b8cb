import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { resolveServeOptions, SERVE_SETTINGS, type ServeSetting } from './commands/serve-options.js';

const settings = (signingWorkers?: string): Record<ServeSetting, string | undefined> =>
  ({
    ...Object.fromEntries(Object.keys(SERVE_SETTINGS).map((k) => [k, undefined])),
    signingWorkers,
  }) as Record<ServeSetting, string | undefined>;

describe('meshca serve --signing-workers', () => {
  it('starts one signing worker per core beyond the first, at least one, by default and with auto', () => {
    const expected = Math.max(1, availableParallelism() - 1);
    expect(resolveServeOptions(settings(), '/home').signingWorkers).toBe(expected);
    expect(resolveServeOptions(settings('auto'), '/home').signingWorkers).toBe(expected);
  });

  it.each([
    ['0', 0],
    ['1', 1],
    ['64', 64],
  ])('takes %s as %i workers', (value, workers) => {
    expect(resolveServeOptions(settings(value), '/home').signingWorkers).toBe(workers);
  });

  it.each(['-1', '1.5', 'two', '', '65', '9'.repeat(400)])('refuses %j naming the flag', (value) => {
    expect(() => resolveServeOptions(settings(value), '/home')).toThrow(
      `--signing-workers: ${JSON.stringify(value)} is not auto or a whole number from 0 to 64`,
    );
  });
});
