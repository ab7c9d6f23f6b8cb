import { afterEach, describe, expect, it, vi } from 'vitest';
import { requirePeer } from './peer.js';

describe('requirePeer', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('runs the tests when the binary is on PATH', () => {
    expect(requirePeer('sh', 'dash')).toBe(true);
  });

  it('skips with the install command printed when the binary is missing outside CI', () => {
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(requirePeer('meshca-no-such-peer', 'meshca-peer-pkg')).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('sudo apt-get install -y meshca-peer-pkg'));
    warn.mockRestore();
  });

  it('fails under CI=true when the binary is missing', () => {
    vi.stubEnv('CI', 'true');
    expect(() => requirePeer('meshca-no-such-peer', 'meshca-peer-pkg')).toThrow(/CI=true requires every peer; install it with: sudo apt-get install -y meshca-peer-pkg/);
  });
});
