import { createPublicKey } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MeshcaError, isMeshcaError } from '../errors/index.js';
import { describeKey, parseCertificates, parseCsr, parsePrivateKey, publicKeysEqual } from '../pki/index.js';
import { AgentFixture, START, TEST_TOKEN } from './testing/agent-fixture.js';

const H = 3_600_000;
let fx: AgentFixture;
beforeEach(() => {
  fx = new AgentFixture();
});
afterEach(() => fx.cleanup());

const read = (file: string): string => readFileSync(path.join(fx.outDir, file), 'utf8');
const at = (ms: number): string => new Date(START.getTime() + ms).toISOString();

/** Runs the agent's loop until the fake clock reaches `hours` after START. */
async function runFor(hours: number, agent = fx.agent()): Promise<void> {
  const stop = new AbortController();
  fx.clock.stopAt(new Date(START.getTime() + hours * H), stop);
  await agent.run(stop.signal);
}

describe('WorkloadAgent.ensure (meshca agent --once)', () => {
  it('writes a chain without the root, a 0600 key matching the leaf and the root bundle, for the SPIFFE ID asked', async () => {
    const result = await fx.agent().ensure(new AbortController().signal);
    expect(result.action).toBe('issued');
    const chain = parseCertificates(read('cert-chain.pem'));
    expect(chain.map((c) => c.isCA)).toEqual([false, true]);
    expect(chain[0]?.sans.uris).toEqual(['spiffe://cluster.local/ns/default/sa/sleep']);
    expect(read('root-cert.pem')).toBe(fx.ca.rootPem);
    const key = parsePrivateKey(read('key.pem'));
    expect(publicKeysEqual(key, chain[0]?.publicKey ?? createPublicKey(key))).toBe(true);
    expect(statSync(path.join(fx.outDir, 'key.pem')).mode & 0o777).toBe(0o600);
    expect(result.renewAt.toISOString()).toBe(at(12 * H));
  });

  it('sends a CSR with only the URI SAN (no common name, no DNS name), the token, the cluster id, the lifetime and the roots', async () => {
    await fx.agent({ clusterId: 'east', requestedLifetimeMs: 6 * H }).ensure(new AbortController().signal);
    const call = fx.ca.calls[0];
    const csr = parseCsr(call?.csr ?? '');
    expect(csr.sans).toEqual({ dnsNames: [], ipAddresses: [], uris: ['spiffe://cluster.local/ns/default/sa/sleep'], emailAddresses: [] });
    expect(csr.subject).toEqual({});
    expect(describeKey(csr.publicKey)).toEqual({ algorithm: 'ECDSA', size: 256 });
    expect(call).toMatchObject({ token: TEST_TOKEN, clusterId: 'east', validityDurationSeconds: 6 * 3600, trustedRootsPem: fx.ca.rootPem });
  });

  it('makes an RSA 2048 key when asked', async () => {
    await fx.agent({ keySpec: { algorithm: 'RSA', size: 2048 } }).ensure(new AbortController().signal);
    expect(describeKey(parsePrivateKey(read('key.pem')))).toEqual({ algorithm: 'RSA', size: 2048 });
  });

  it('reuses a certificate not yet due, with no request, after a restart', async () => {
    await fx.agent().ensure(new AbortController().signal);
    const before = read('cert-chain.pem');
    fx.clock.advance(11 * H);
    const again = await fx.agent().ensure(new AbortController().signal);
    expect(again.action).toBe('reused');
    expect(fx.ca.calls).toHaveLength(1);
    expect(read('cert-chain.pem')).toBe(before);
  });

  it('repairs the top-level links when it reuses a set a crash left behind ..data only', async () => {
    await fx.agent().ensure(new AbortController().signal);
    const chain = read('..data/cert-chain.pem');
    // Killed after the rename of ..data, before the links: the top-level names are missing.
    for (const file of ['cert-chain.pem', 'key.pem', 'root-cert.pem']) rmSync(path.join(fx.outDir, file));
    fx.clock.advance(H);
    const again = await fx.agent().ensure(new AbortController().signal);
    expect(again.action).toBe('reused');
    expect(fx.ca.calls).toHaveLength(1);
    expect(read('cert-chain.pem')).toBe(chain);
    expect(readlinkSync(path.join(fx.outDir, 'key.pem'))).toBe('..data/key.pem');
    expect(fx.logs.find((l) => l.message === 'repaired the top-level links of the credential folder')?.fields).toEqual({
      files: 'cert-chain.pem, key.pem, root-cert.pem',
    });
  });

  it('still reuses the set when the links cannot be repaired, logging a warning', async () => {
    await fx.agent().ensure(new AbortController().signal);
    rmSync(path.join(fx.outDir, 'key.pem'));
    mkdirSync(path.join(fx.outDir, 'key.pem.tmp', 'blocker'), { recursive: true });
    const again = await fx.agent().ensure(new AbortController().signal);
    expect(again.action).toBe('reused');
    const warns = fx.logs.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(/^cannot repair the top-level links of the credential folder: cannot point .*\/key.pem at ..data\/key.pem: /);
  });

  it('adopts a certificate whose files are live though a step after the swap failed, logging a warning', async () => {
    // The link step for cert-chain.pem, which comes after ..data is swapped, fails.
    mkdirSync(path.join(fx.outDir, 'cert-chain.pem.tmp', 'blocker'), { recursive: true });
    const agent = fx.agent();
    const result = await agent.ensure(new AbortController().signal);
    expect(result.action).toBe('issued');
    expect(agent.credentials?.leaf.serialNumber).toBe(fx.ca.issued[0]?.serialNumber);
    expect(read('..data/cert-chain.pem')).toBe(result.credentials.chain.map((c) => c.pem).join(''));
    const warns = fx.logs.filter((l) => l.level === 'warn');
    expect(warns.map((l) => l.message)).toEqual([
      expect.stringMatching(/^the new certificate is in place, but: cannot point .*\/cert-chain.pem at ..data\/cert-chain.pem: /),
    ]);
  });

  it('does not issue again while the new set is live though a step after the swap keeps failing', async () => {
    mkdirSync(path.join(fx.outDir, 'cert-chain.pem.tmp', 'blocker'), { recursive: true });
    // Without a certificate adopted the agent would retry within 30 s, some twenty times in 6 minutes.
    await runFor(0.1);
    expect(fx.ca.calls).toHaveLength(1);
  });

  it('renews a certificate past its renewal time', async () => {
    await fx.agent().ensure(new AbortController().signal);
    fx.clock.advance(13 * H);
    expect((await fx.agent().ensure(new AbortController().signal)).action).toBe('issued');
    expect(fx.ca.calls).toHaveLength(2);
  });

  it('does not reuse a certificate for another identity, and says why in the log', async () => {
    await fx.agent({ serviceAccount: 'other' }).ensure(new AbortController().signal);
    const result = await fx.agent().ensure(new AbortController().signal);
    expect(result.action).toBe('issued');
    expect(fx.logs.some((l) => /not reusing the files in .*: the saved chain is for another identity/.test(l.message))).toBe(true);
  });

  it('does not reuse files whose key does not match the chain', async () => {
    await fx.agent().ensure(new AbortController().signal);
    const other = new AgentFixture();
    await other.agent().ensure(new AbortController().signal);
    writeFileSync(path.join(fx.outDir, 'key.pem'), readFileSync(path.join(other.outDir, 'key.pem')));
    other.cleanup();
    const result = await fx.agent().ensure(new AbortController().signal);
    expect(result.action).toBe('issued');
    expect(fx.logs.some((l) => /not reusing .*for another public key/.test(l.message))).toBe(true);
  });

  it.each<[string, (f: AgentFixture) => void, string, RegExp]>([
    ['a missing token file', (f) => writeFileSync(f.tokenFile, ''), 'INVALID_INPUT', /^the token file .* is empty$/],
    ['a root file with no certificate', (f) => writeFileSync(f.rootFile, 'nothing here\n'), 'CERT_INVALID', /^the root certificate file .* (holds no certificate|cannot be read)/],
    ['an unreachable CA', (f) => (f.ca.failure = new MeshcaError('UPSTREAM_UNAVAILABLE', 'cannot reach the CA at fake: ECONNREFUSED')), 'UPSTREAM_UNAVAILABLE', /^cannot reach the CA at fake: ECONNREFUSED$/],
    ['a garbage answer', (f) => (f.ca.tamper = () => ['garbage', 'more garbage']), 'CERT_INVALID', /^the CA's answer has (an unreadable|an empty) element 1 of 2/],
    ['a chain for another identity', (f) => (f.ca.signAs = 'spiffe://cluster.local/ns/prod/sa/admin'), 'CHAIN_INVALID', /^the CA's answer is for another identity/],
    ['a chain that does not verify', (f) => (f.ca.tamper = (chain) => [chain[0] ?? '', new AgentFixture().ca.rootPem]), 'CHAIN_INVALID', /^the CA's answer does not verify up to its root bundle/],
  ])('fails on %s with a precise error, writing nothing and keeping the previous files', async (_name, breakIt, code, message) => {
    await fx.agent().ensure(new AbortController().signal);
    const before = [read('cert-chain.pem'), read('key.pem'), read('root-cert.pem')];
    fx.clock.advance(13 * H);
    breakIt(fx);
    const err = await fx.agent().ensure(new AbortController().signal).catch((e: unknown) => e);
    expect(isMeshcaError(err, code as never)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect([read('cert-chain.pem'), read('key.pem'), read('root-cert.pem')]).toEqual(before);
  });

  it.each([
    ['a namespace that is not a SPIFFE path segment', { namespace: 'a/b' }, /the namespace: the path segment "a\/b"|not a valid SPIFFE ID/],
    ['a trust domain with uppercase letters', { trustDomain: 'Cluster.Local' }, /the trust domain may contain only lowercase letters/],
    ['a grace period ratio of 1', { gracePeriodRatio: 1 }, /must be from 0.02 to 0.98, got 1$/],
    ['a grace period ratio of 0.01, which the jitter could move to notAfter', { gracePeriodRatio: 0.01 }, /must be from 0.02 to 0.98, got 0.01$/],
    ['a requested lifetime under a second', { requestedLifetimeMs: 10 }, /at least one second, got 10 ms/],
  ])('refuses to start with %s', (_name, overrides, message) => {
    expect(() => fx.agent(overrides)).toThrow(message);
  });
});

describe('WorkloadAgent.run', () => {
  it('issues at start and renews at half of each lifetime', async () => {
    await runFor(40);
    expect(fx.ca.issued.map((c) => c.notBefore.toISOString())).toEqual([at(0), at(12 * H), at(24 * H), at(36 * H)]);
    expect(fx.clock.sleeps.every((ms) => ms <= 5 * 60_000)).toBe(true);
  });

  it('reuses a valid certificate found at start and first renews it at its renewal time', async () => {
    await fx.agent().ensure(new AbortController().signal);
    fx.clock.advance(3 * H);
    await runFor(20);
    expect(fx.ca.issued.map((c) => c.notBefore.toISOString())).toEqual([at(0), at(12 * H)]);
    expect(fx.logs.some((l) => l.message === 'reusing the certificate in the credential folder')).toBe(true);
  });

  it('jitters the renewal by the injected random (random 0 renews 1% of the lifetime later)', async () => {
    fx.randomValue = 0;
    await runFor(13);
    expect(fx.ca.issued.map((c) => c.notBefore.toISOString())).toEqual([at(0), at(12 * H + 0.01 * 24 * H)]);
  });

  it('keeps the valid files while the CA is down, retrying with growing backoff capped at 5 minutes, then renews', async () => {
    await fx.agent().ensure(new AbortController().signal);
    const before = read('cert-chain.pem');
    fx.ca.failure = new MeshcaError('UPSTREAM_UNAVAILABLE', 'cannot reach the CA at fake: ECONNREFUSED');
    const stop = new AbortController();
    const agent = fx.agent();
    fx.clock.stopAt(new Date(START.getTime() + 14 * H), stop);
    await agent.run(stop.signal);
    expect(read('cert-chain.pem')).toBe(before);
    const retries = fx.logs.filter((l) => l.level === 'warn').map((l) => l.fields.retryInMs);
    // random 0.5: three quarters of the ceiling; the ceiling doubles from 1 s to the 5 minute cap.
    expect(retries.slice(0, 5)).toEqual([750, 1500, 3000, 6000, 12000]);
    expect(Math.max(...(retries as number[]))).toBe(225_000);
    expect(fx.logs.find((l) => l.level === 'warn')?.message).toBe('certificate request failed; keeping the current files and retrying: cannot reach the CA at fake: ECONNREFUSED');

    fx.ca.failure = undefined;
    const resume = new AbortController();
    fx.clock.stopAt(new Date(START.getTime() + 15 * H), resume);
    await fx.agent().run(resume.signal);
    expect(read('cert-chain.pem')).not.toBe(before);
  });

  it('retries within 30 s when it has no valid certificate, and reports an expiry it could not prevent once', async () => {
    await fx.agent().ensure(new AbortController().signal);
    fx.ca.failure = new MeshcaError('UPSTREAM_UNAVAILABLE', 'cannot reach the CA at fake: ECONNREFUSED');
    await runFor(26);
    const errors = fx.logs.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.message)).toEqual([`the workload certificate expired at ${at(24 * H)} and could not be renewed`]);
    const afterExpiry = fx.logs.filter((l) => l.level === 'warn').slice(-5).map((l) => l.fields.retryInMs as number);
    expect(Math.max(...afterExpiry)).toBeLessThanOrEqual(30_000);
    const metrics = await fx.registry.metrics();
    expect(metrics).toMatch(/istio_agent_cert_expiry_seconds\{resource_name="default"\} -7\d{3}/);
  });

  it('refuses a tampered answer during renewal, keeping the files, and takes the next good one', async () => {
    await fx.agent().ensure(new AbortController().signal);
    const before = read('cert-chain.pem');
    let bad = 2;
    fx.ca.tamper = (chain) => (bad-- > 0 ? chain.slice(0, 1) : chain);
    await runFor(13);
    const warns = fx.logs.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(2);
    expect(warns[0]?.message).toMatch(/the CA's answer has 1 element\(s\)/);
    expect(read('cert-chain.pem')).not.toBe(before);
    expect(fx.ca.issued).toHaveLength(4);
  });

  it('reads the token again before every request', async () => {
    // The kubelet rotates a projected token between two renewals.
    fx.ca.tamper = (chain) => {
      writeFileSync(fx.tokenFile, 'aaa.bbb.ccc');
      return chain;
    };
    await runFor(13);
    expect(fx.ca.calls.map((c) => c.token)).toEqual([TEST_TOKEN, 'aaa.bbb.ccc']);
  });

  it('picks up a new root: rewrites root-cert.pem and trusts old and new roots for the CA connection', async () => {
    const oldRoot = fx.ca.rootPem;
    await fx.agent().ensure(new AbortController().signal);
    fx.ca.rotate('root two');
    const agent = fx.agent();
    const stop = new AbortController();
    fx.clock.stopAt(new Date(START.getTime() + 13 * H), stop);
    await agent.run(stop.signal);
    expect(read('root-cert.pem')).toBe(fx.ca.rootPem);
    expect(fx.logs.some((l) => l.message === 'the root bundle changed; root-cert.pem rewritten')).toBe(true);

    const rootTwo = fx.ca.rootPem;
    fx.ca.rotate('root three');
    const next = new AbortController();
    fx.clock.stopAt(new Date(START.getTime() + 37 * H), next);
    await agent.run(next.signal);
    const trusted = fx.ca.calls.map((c) => parseCertificates(c.trustedRootsPem).map((r) => r.subject.commonName));
    expect(trusted[0]).toEqual(['fake root']);
    expect(trusted[1]).toEqual(['fake root']);
    // after root two arrived: the configured root and root two; after root three: all three.
    expect(trusted[2]).toEqual(['fake root', 'root two']);
    expect(trusted[3]).toEqual(['fake root', 'root three', 'root two']);
    expect(oldRoot).not.toBe(rootTwo);
  });

  it('stops at once when its signal aborts while waiting', async () => {
    const stop = new AbortController();
    const running = fx.agent().run(stop.signal);
    stop.abort();
    await running;
    expect(fx.ca.calls.length).toBeLessThanOrEqual(1);
  });
});

describe('agent metrics', () => {
  it('reports seconds until the leaf expires and whole days until the first certificate in use expires', async () => {
    const agent = fx.agent();
    const empty = await fx.registry.metrics();
    expect(empty).not.toMatch(/^istio_agent_cert_expiry_seconds/m);
    expect(empty).not.toContain('envoy_server_days_until_first_cert_expiring');
    await agent.ensure(new AbortController().signal);
    fx.clock.advance(H);
    const text = await fx.registry.metrics();
    expect(text).toContain('istio_agent_cert_expiry_seconds{resource_name="default"} 82800');
    // the fake root lives 3650 days from a day before START; an hour has passed
    expect(text).toContain(`istio_agent_cert_expiry_seconds{resource_name="ROOTCA"} ${(3649 * 24 - 1) * 3600}`);
    expect(text).toContain('envoy_server_days_until_first_cert_expiring 0');
  });
});
