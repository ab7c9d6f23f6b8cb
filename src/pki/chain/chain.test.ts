import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../certificate/issue-certificate.js';
import { DAY, HOUR, T0, makeIssued, makeRoot } from '../testing/pki-fixtures.js';
import { buildChain } from './build-chain.js';
import { verifyChain } from './verify-chain.js';

describe('chains', () => {
  const root = makeRoot();
  const inter = makeIssued(root, {
    isCA: true,
    pathLen: 0,
    subject: { commonName: 'istio-ca' },
    lifetimeMs: 30 * DAY,
    nameConstraints: { permittedUriDomains: ['cluster.local'] },
  });
  const leaf = makeIssued(inter, {
    sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] },
    extKeyUsages: ['serverAuth', 'clientAuth'],
    lifetimeMs: HOUR,
  });

  it('builds leaf → intermediate → root from an unordered pool', () => {
    const chain = buildChain(leaf.certificate, [root.certificate, inter.certificate]);
    expect(chain.map((c) => c.subjectString)).toEqual(['', 'CN=istio-ca', 'CN=test root, O=meshca tests']);
  });

  it('stops where the pool ends', () => {
    expect(buildChain(leaf.certificate, [inter.certificate])).toHaveLength(2);
  });

  it('verifies a good chain at an instant inside every validity', () => {
    const v = verifyChain(leaf.certificate, {
      intermediates: [inter.certificate],
      roots: [root.certificate],
      at: T0,
      extKeyUsage: 'clientAuth',
    });
    expect(v.ok).toBe(true);
    expect(v.chain).toHaveLength(3);
  });

  it('picks the root that signed, when an old and a new root share a name (rotation)', () => {
    const newRoot = makeRoot();
    const v = verifyChain(leaf.certificate, {
      intermediates: [inter.certificate],
      roots: [newRoot.certificate, root.certificate],
      at: T0,
    });
    expect(v.ok).toBe(true);
    expect(v.chain[2]?.fingerprintSha256).toBe(root.certificate.fingerprintSha256);
  });

  const otherRoot = makeRoot({ name: 'other root' });
  const notCa = makeIssued(root, { subject: { commonName: 'not a ca' } });
  const deep = makeIssued(root, { isCA: true, pathLen: 0, subject: { commonName: 'pathlen0' } });
  const sub = (() => {
    // A CA under a pathLen-0 CA cannot be issued by meshca, so build it from a permissive twin with the same key and name.
    const twin = issueCertificate(
      { publicKey: deep.key, subject: { commonName: 'pathlen0' }, isCA: true, lifetimeMs: DAY },
      { certificate: root.certificate, key: root.key },
      { now: T0 },
    );
    return makeIssued(
      { certificate: twin, key: deep.key },
      { isCA: true, subject: { commonName: 'too deep' } },
    );
  })();
  const underSub = makeIssued(sub, { subject: { commonName: 'leaf under too deep' } });
  const outside = makeIssued(
    { certificate: inter.certificate, key: inter.key },
    { sans: { uris: ['spiffe://evil.local/ns/a/sa/b'] } },
  );

  it.each([
    [
      'an instant after the leaf expires',
      () =>
        verifyChain(leaf.certificate, {
          intermediates: [inter.certificate],
          roots: [root.certificate],
          at: new Date(T0.getTime() + 2 * HOUR),
        }),
      /certificate 0 \("spiffe:\/\/cluster.local\/ns\/a\/sa\/b"\) expired at 2030-01-01T01:00:00.000Z/,
    ],
    [
      'an instant before the chain is valid',
      () =>
        verifyChain(leaf.certificate, {
          intermediates: [inter.certificate],
          roots: [root.certificate],
          at: new Date(T0.getTime() - 1000),
        }),
      /is not valid until/,
    ],
    [
      'another root',
      () =>
        verifyChain(leaf.certificate, {
          intermediates: [inter.certificate],
          roots: [otherRoot.certificate],
          at: T0,
        }),
      /issued by "CN=test root, O=meshca tests", which is neither a trusted root nor a given intermediate/,
    ],
    [
      'a missing intermediate',
      () => verifyChain(leaf.certificate, { roots: [root.certificate], at: T0 }),
      /issued by "CN=istio-ca"/,
    ],
    [
      'an unwanted extended key usage',
      () =>
        verifyChain(leaf.certificate, {
          intermediates: [inter.certificate],
          roots: [root.certificate],
          at: T0,
          extKeyUsage: 'codeSigning',
        }),
      /does not allow codeSigning/,
    ],
    [
      'a pathLen exceeded',
      () =>
        verifyChain(underSub.certificate, {
          intermediates: [sub.certificate, deep.certificate],
          roots: [root.certificate],
          at: T0,
        }),
      /allows 0 intermediate CA\(s\) below it \(pathLen\), but the chain has 1/,
    ],
    [
      'a name outside the constraints',
      () =>
        verifyChain(outside.certificate, {
          intermediates: [inter.certificate],
          roots: [root.certificate],
          at: T0,
        }),
      /URI "spiffe:\/\/evil.local\/ns\/a\/sa\/b" is not within the permitted cluster.local/,
    ],
  ])('refuses %s and says why', (_name, run, reason) => {
    const v = run();
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
  });

  it('refuses a chain through a certificate that is not a CA', () => {
    // meshca will not sign with a non-CA, so sign with a CA twin that has the same name and key.
    const twin = issueCertificate(
      { publicKey: notCa.key, subject: { commonName: 'not a ca' }, isCA: true, lifetimeMs: DAY },
      { certificate: root.certificate, key: root.key },
      { now: T0 },
    );
    const victim = makeIssued({ certificate: twin, key: notCa.key }, { subject: { commonName: 'victim' } });
    const v = verifyChain(victim.certificate, {
      intermediates: [notCa.certificate],
      roots: [root.certificate],
      at: T0,
    });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/signs certificates but is not a CA/);
  });

  it('refuses a forged signature', () => {
    const impostor = makeRoot(); // the same name as the trusted root, another key
    const forged = makeIssued(impostor, { subject: { commonName: 'forged' } });
    const v = verifyChain(forged.certificate, { roots: [root.certificate], at: T0 });
    expect(v.ok).toBe(false);
    if (!v.ok)
      expect(v.reason).toMatch(
        /is not signed by "CN=test root, O=meshca tests": the signature does not verify with the public key/,
      );
  });
});
