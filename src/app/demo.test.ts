import { getEventListeners } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openHomeStore } from '../store/sqlite/home-store.js';
import type { Store } from '../store/store.js';
import { runDemo } from './demo.js';
import { accepts } from './testing/accepts.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

/** The demo's output, and the stores it opened (to see that each was closed). */
function harness(onLine: (text: string, all: string) => void = () => undefined) {
  let out = '';
  const stores: { closed: boolean }[] = [];
  return {
    out: () => out,
    stores,
    deps: (signal: AbortSignal) => ({
      out: {
        write: (text: string) => {
          out += text;
          onLine(text, out);
        },
      },
      openStore: (home: string): Promise<Store> => {
        const store = openHomeStore(home, { create: true });
        const state = { closed: false };
        stores.push(state);
        const close = store.close.bind(store);
        store.close = () => ((state.closed = true), close());
        return Promise.resolve(store);
      },
      signal,
    }),
  };
}


/**
 * Runs the demo until it settles (or 20 s pass), checks that its gRPC and HTTP ports no longer
 * accept, every store it opened is closed and its temporary home is gone, and returns how it
 * ended: 'resolved', 'rejected: <error>' or 'still running'.
 */
async function runAndCheckCleanedUp(h: ReturnType<typeof harness>, signal: AbortSignal): Promise<string> {
  const settled = runDemo({ durationMs: 60_000, lifetimeMs: 60_000 }, h.deps(signal)).then(
    () => 'resolved',
    (err: unknown) => `rejected: ${String(err)}`,
  );
  const outcome = await Promise.race([
    settled,
    new Promise<string>((r) => setTimeout(() => r('still running'), 20_000)),
  ]);
  const home = /on the embedded store in (\S+)/.exec(h.out())?.[1];
  if (home !== undefined) homes.push(home);
  const [, grpc, http] = /Istio CA API \(gRPC, TLS\) on (\S+); .* on http:\/\/(\S+)/.exec(h.out()) ?? [];
  expect(await accepts(grpc!)).toBe(false);
  expect(await accepts(http!)).toBe(false);
  expect(h.stores.length).toBeGreaterThan(0);
  expect(h.stores.every((s) => s.closed)).toBe(true);
  expect(home).toBeDefined();
  expect(existsSync(home!)).toBe(false);
  return outcome;
}

describe('meshca demo: every way out closes everything', () => {
  it('Ctrl-C as the agents start: servers and stores closed, the temporary home removed', async () => {
    const controller = new AbortController();
    // Ctrl-C the moment the CA server is up: the first agent.ensure then runs under an aborted signal.
    const h = harness((text) => {
      if (text.includes('Istio CA API')) setTimeout(() => controller.abort(), 0);
    });
    expect(await runAndCheckCleanedUp(h, controller.signal)).toBe('resolved');
    expect(h.out()).toContain('meshca demo interrupted');
  });

  it('a failure after the CA server started: the error comes back, with servers, agents and stores closed and the temporary home removed', async () => {
    const h = harness((text) => {
      // Something that throws once the servers run and the first agent has its certificate.
      if (text.includes('frontend  issued')) throw new Error('the terminal went away');
    });
    expect(await runAndCheckCleanedUp(h, new AbortController().signal)).toBe(
      'rejected: Error: the terminal went away',
    );
  });

  it('a full run closes everything, keeps the home its report names, and leaves no listener on the signal', async () => {
    const home = path.join(mkdtempSync(path.join(tmpdir(), 'meshca-demo-unit-')), 'home');
    homes.push(path.dirname(home));
    const controller = new AbortController();
    const h = harness();
    await runDemo({ durationMs: 3_000, lifetimeMs: 60_000, home }, h.deps(controller.signal));
    expect(h.out()).toMatch(/meshca demo done: [1-9]\d* rounds/);
    expect(h.stores.every((s) => s.closed)).toBe(true);
    expect(existsSync(path.join(home, 'store.db'))).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  }, 30_000);
});
