import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliHarness } from '../../../src/cli/testing/cli-harness.js';
import { requirePeer } from '../peer.js';

// Issue "foundation", done when: `meshca init`, then the root and the intermediate exported with
// `meshca get secret … -o json`, give PEMs that `openssl verify` accepts.
describe.runIf(requirePeer('openssl', 'openssl'))('meshca init, checked by openssl', () => {
  let cli: CliHarness;
  const file = (name: string): string => path.join(cli.dir, name);

  beforeAll(async () => {
    cli = new CliHarness(new Date());
    expect((await cli.run('init', '--trust-domain', 'example.org')).code).toBe(0);
    for (const secret of ['istio-root-ca', 'istio-ca']) {
      const run = await cli.run('get', 'secret', secret, '-o', 'json');
      const data = (JSON.parse(run.stdout) as { data: Record<string, string> }).data;
      for (const [key, value] of Object.entries(data)) writeFileSync(file(`${secret}-${key}`), Buffer.from(value, 'base64'));
    }
  });
  afterAll(() => cli.cleanup());

  const openssl = (...args: string[]): string => execFileSync('openssl', args, { cwd: cli.dir, encoding: 'utf8' });

  it('accepts the root as a self-signed CA under -x509_strict', () => {
    expect(openssl('verify', '-x509_strict', '-CAfile', 'istio-root-ca-tls.crt', 'istio-root-ca-tls.crt').trim()).toBe('istio-root-ca-tls.crt: OK');
  });

  it('accepts the intermediate chained to the root under -x509_strict', () => {
    expect(openssl('verify', '-x509_strict', '-CAfile', 'istio-ca-ca.crt', 'istio-ca-tls.crt').trim()).toBe('istio-ca-tls.crt: OK');
  });

  it('reads the intermediate as a CA with the key usages of a CA', () => {
    const text = openssl('x509', '-in', 'istio-ca-tls.crt', '-noout', '-text');
    expect(text).toContain('CA:TRUE');
    expect(text).toContain('Certificate Sign, CRL Sign');
    expect(text).toContain('URI:spiffe://example.org');
    expect(text).toContain('Subject: CN = istio-intermediate-ca.example.org');
  });

  it('finds each private key to be the key of its certificate', () => {
    for (const secret of ['istio-root-ca', 'istio-ca']) {
      const fromKey = openssl('pkey', '-in', `${secret}-tls.key`, '-pubout');
      const fromCert = openssl('x509', '-in', `${secret}-tls.crt`, '-noout', '-pubkey');
      expect(fromKey).toBe(fromCert);
    }
  });

  it('is shown by meshca inspect with its chain verified', async () => {
    const run = await cli.run('inspect', 'secret/istio-ca');
    expect(run.stdout).toContain('chain: OK (CN=istio-intermediate-ca.example.org → CN=meshca root CA (example.org))');
  });
});
