import { describe, expect, it } from 'vitest';
import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../certificate/certificate.js';
import { issueCertificate } from '../certificate/issue-certificate.js';
import { Tag, contextConstructed, contextPrimitive, oid, sequence, tlv } from '../der/der-writer.js';
import { OID } from '../der/oids.js';
import { extension } from '../extensions/extensions.js';
import { generatePrivateKey } from '../keys/generate-private-key.js';
import { encodeName } from '../names/distinguished-name.js';
import { DAY, HOUR, T0, makeIssued, makeRawCa, makeRoot, type Issued } from '../testing/pki-fixtures.js';
import { buildChain } from './build-chain.js';
import { MAX_CANDIDATE_ISSUERS_TRIED, verifyChain } from './verify-chain.js';

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
  // meshca will not sign outside its own name constraints, so sign with an unconstrained twin
  // of the intermediate (same name and key): the leaf verifies as if the constrained one signed it.
  const unconstrainedTwin = issueCertificate(
    {
      publicKey: inter.key,
      subject: { commonName: 'istio-ca' },
      isCA: true,
      pathLen: 0,
      lifetimeMs: 30 * DAY,
    },
    { certificate: root.certificate, key: root.key },
    { now: T0 },
  );
  const underConstrained = (uris: string[]): Issued =>
    makeIssued({ certificate: unconstrainedTwin, key: inter.key }, { sans: { uris } });
  const outside = underConstrained(['spiffe://evil.local/ns/a/sa/b']);

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

  describe('name-constraint subtrees meshca does not enforce', () => {
    const nc = (...subtrees: Buffer[]): Buffer =>
      sequence(contextConstructed(0, ...subtrees.map((t) => sequence(t))));
    const acme = encodeName({ organizations: ['Acme'] });
    it.each<[string, Buffer, boolean, RegExp]>([
      ['a critical directoryName', nc(contextConstructed(4, acme)), true, /permitted directoryName/],
      ['a non-critical directoryName', nc(contextConstructed(4, acme)), false, /permitted directoryName/],
      [
        'an otherName',
        nc(
          contextConstructed(
            0,
            oid('1.3.6.1.4.1.311.20.2.3'),
            contextConstructed(0, tlv(Tag.UTF8_STRING, Buffer.from('x'))),
          ),
        ),
        true,
        /permitted otherName/,
      ],
      ['a registeredID', nc(contextPrimitive(8, oid('1.2.3.4').subarray(2))), true, /permitted registeredID/],
      [
        'an excluded directoryName (beside a supported URI)',
        sequence(
          contextConstructed(0, sequence(contextPrimitive(6, Buffer.from('cluster.local')))),
          contextConstructed(1, sequence(contextConstructed(4, acme))),
        ),
        true,
        /excluded directoryName/,
      ],
      [
        'a dNSName with a maximum',
        sequence(
          contextConstructed(
            0,
            sequence(
              contextPrimitive(2, Buffer.from('cluster.local')),
              contextPrimitive(1, Buffer.from([1])),
            ),
          ),
        ),
        true,
        /permitted dNSName with minimum\/maximum/,
      ],
    ])('refuses a chain through a CA with %s subtree, never ignoring it', (_name, value, critical, kind) => {
      const ca = makeRawCa(root, {
        subject: { commonName: 'constrained ca' },
        extensions: [extension(OID.nameConstraints, critical, value)],
      });
      // The leaf is signed by an unconstrained twin: meshca itself refuses to sign under such a CA.
      const twin = makeRawCa(root, {
        subject: { commonName: 'constrained ca' },
        extensions: [],
        key: ca.key,
      });
      // A victim whose names the constraint was written to keep out.
      const victim = makeIssued(twin, {
        subject: { organizations: [_name.includes('excluded') ? 'Acme' : 'Evil'], commonName: 'victim' },
        sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'], dnsNames: ['evil.example'] },
      });
      const v = verifyChain(victim.certificate, {
        intermediates: [ca.certificate],
        roots: [root.certificate],
        at: T0,
      });
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.reason).toMatch(
          /certificate 1 \("CN=constrained ca"\) cannot be used: its name constraints hold subtrees meshca cannot enforce/,
        );
        expect(v.reason).toMatch(kind);
      }
      expect(ca.certificate.nameConstraints?.unsupportedSubtrees?.length).toBeGreaterThan(0);
      // ... and issuance under it is refused the same way.
      expect(() => makeIssued(ca, { sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } })).toThrow(
        /the signing CA "CN=constrained ca" cannot sign: its name constraints hold subtrees meshca cannot enforce/,
      );
    });
  });

  it.each([
    ['urn:x', /URI "urn:x" has no host to match against the URI constraints/],
    ['spiffe:cluster.local/ns/a', /URI "spiffe:cluster.local\/ns\/a" has no host/],
    ['spiffe:///ns/a/sa/b', /has no host/],
    ['https://10.0.0.1/x', /has an IP address as its host/],
    ['https://[fd00::1]/x', /has an IP address as its host/],
    ['https://evil%2elocal/x', /has a percent-encoded host/],
  ])('refuses a URI SAN %s that has no host a URI constraint can match (as Go does)', (uri, reason) => {
    // Excluded constraints only: the old matcher let a hostless URI through since it matched no exclusion.
    const ca = makeIssued(root, {
      isCA: true,
      subject: { commonName: 'excluding ca' },
      nameConstraints: { excludedUriDomains: ['evil.local'] },
    });
    const twin = issueCertificate(
      { publicKey: ca.key, subject: { commonName: 'excluding ca' }, isCA: true, lifetimeMs: DAY },
      { certificate: root.certificate, key: root.key },
      { now: T0 },
    );
    const hostless = makeIssued({ certificate: twin, key: ca.key }, { sans: { uris: [uri] } });
    const v = verifyChain(hostless.certificate, {
      intermediates: [ca.certificate],
      roots: [root.certificate],
      at: T0,
    });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(reason);
    expect(() => makeIssued(ca, { sans: { uris: [uri] } })).toThrow(reason);
    // A URI with a host outside the exclusion still passes.
    const fine = makeIssued(ca, { sans: { uris: ['spiffe://cluster.local/ns/a/sa/b'] } });
    expect(
      verifyChain(fine.certificate, { intermediates: [ca.certificate], roots: [root.certificate], at: T0 })
        .ok,
    ).toBe(true);
  });

  describe('bounded search', () => {
    it('gives up on many self-issued certificates sharing one name and key (a path never repeats a CA)', () => {
      // 20 self-issued CAs with one name and one key: each "signs" every other, so the old search
      // tried every ordering of them up to depth 10 (~20!/10! paths).
      const key = generatePrivateKey();
      const clones = Array.from({ length: 20 }, (_, i) =>
        issueCertificate(
          { publicKey: key, subject: { commonName: 'clone' }, isCA: true, lifetimeMs: DAY + i * 1000 },
          { selfSigned: key },
          { now: T0 },
        ),
      );
      const leaf = makeIssued(
        { certificate: clones[0] as Certificate, key },
        { subject: { commonName: 'victim' } },
      );
      const v = verifyChain(leaf.certificate, { intermediates: clones, roots: [root.certificate], at: T0 });
      expect(v.ok).toBe(false);
      if (!v.ok) expect(v.reason).toMatch(/repeats the name and key of a CA already on the path/);
    }, 10_000);

    it('stops with "too many candidate issuers" when same-named CAs with different keys cross-sign each other', () => {
      // 6 keys, one name, every key certified by every key: 36 CAs, and exponentially many paths.
      const keys = Array.from({ length: 6 }, () => generatePrivateKey());
      const selfSigned = keys.map((k) =>
        issueCertificate(
          { publicKey: k, subject: { commonName: 'mesh' }, isCA: true, lifetimeMs: DAY },
          { selfSigned: k },
          { now: T0 },
        ),
      );
      const cross = keys.flatMap((k, i) =>
        keys
          .filter((_, j) => j !== i)
          .map((signerKey, j) =>
            issueCertificate(
              { publicKey: k, subject: { commonName: 'mesh' }, isCA: true, lifetimeMs: DAY - j * 1000 },
              { certificate: selfSigned[keys.indexOf(signerKey)] as Certificate, key: signerKey },
              { now: T0 },
            ),
          ),
      );
      const leaf = makeIssued(
        { certificate: selfSigned[0] as Certificate, key: keys[0] as KeyObject },
        { subject: { commonName: 'victim' } },
      );
      const v = verifyChain(leaf.certificate, {
        intermediates: [...selfSigned, ...cross],
        roots: [root.certificate],
        at: T0,
      });
      expect(v.ok).toBe(false);
      if (!v.ok)
        expect(v.reason).toMatch(
          new RegExp(
            `^too many candidate issuers: gave up after trying ${MAX_CANDIDATE_ISSUERS_TRIED} without finding a valid path`,
          ),
        );
    }, 10_000);

    it('still verifies a root rotation: a leaf under the new root, the new root cross-signed by the old, only the old trusted', () => {
      const newKey = generatePrivateKey();
      const newRoot = issueCertificate(
        { publicKey: newKey, subject: { commonName: 'new root' }, isCA: true, lifetimeMs: 3650 * DAY },
        { selfSigned: newKey },
        { now: T0 },
      );
      const crossSigned = makeIssued(root, {
        isCA: true,
        subject: { commonName: 'new root' },
        lifetimeMs: 365 * DAY,
      });
      const crossOfNewKey = issueCertificate(
        { publicKey: newKey, subject: { commonName: 'new root' }, isCA: true, lifetimeMs: 365 * DAY },
        { certificate: root.certificate, key: root.key },
        { now: T0 },
      );
      const newInter = makeIssued(
        { certificate: newRoot, key: newKey },
        { isCA: true, subject: { commonName: 'new inter' } },
      );
      const leaf2 = makeIssued(newInter, { subject: { commonName: 'leaf' } });
      const v = verifyChain(leaf2.certificate, {
        // the self-signed new root first, a decoy with the same name and another key, then the cross-signed one
        intermediates: [newInter.certificate, newRoot, crossSigned.certificate, crossOfNewKey],
        roots: [root.certificate],
        at: T0,
      });
      expect(v.ok).toBe(true);
      expect(v.chain.map((c) => c.fingerprintSha256)).toEqual(
        [leaf2.certificate, newInter.certificate, crossOfNewKey, root.certificate].map(
          (c) => c.fingerprintSha256,
        ),
      );
      // And with the new root trusted, the short path.
      const direct = verifyChain(leaf2.certificate, {
        intermediates: [newInter.certificate, crossOfNewKey],
        roots: [root.certificate, newRoot],
        at: T0,
      });
      expect(direct.ok).toBe(true);
      expect(direct.chain).toHaveLength(3);
    });

    it('still verifies a root re-issued with the same key against its old copy', () => {
      const reissued = issueCertificate(
        {
          publicKey: root.key,
          subject: { commonName: 'test root', organizations: ['meshca tests'] },
          isCA: true,
          lifetimeMs: 365 * DAY,
        },
        { selfSigned: root.key },
        { now: T0 },
      );
      const v = verifyChain(reissued, { roots: [root.certificate], at: T0 });
      expect(v.ok).toBe(true);
      expect(v.chain).toHaveLength(2);
    });
  });
});
