import { afterEach, describe, expect, it } from 'vitest';
import { shutdownSignal } from './main.js';

describe('shutdownSignal', () => {
  let uninstall: (() => void) | undefined;
  afterEach(() => uninstall?.());

  it('installs no SIGINT/SIGTERM handler until a command reads the signal, so short commands die on the first Ctrl-C', () => {
    const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    const s = shutdownSignal();
    uninstall = s.uninstall;
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
    const signal = s.signal();
    expect(s.signal()).toBe(signal);
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
    s.uninstall();
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
  });

  it('aborts the signal on the first SIGINT or SIGTERM', () => {
    const s = shutdownSignal();
    uninstall = s.uninstall;
    const signal = s.signal();
    expect(signal.aborted).toBe(false);
    process.emit('SIGTERM', 'SIGTERM');
    expect(signal.aborted).toBe(true);
  });
});
