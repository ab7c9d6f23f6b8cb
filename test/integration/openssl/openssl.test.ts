import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildCsr,
  encodePrivateKey,
  generatePrivateKey,
  issueCertificate,
  parseCertificate,
  parseCsr,
  parsePrivateKey,
  publicKeysEqual,
  templateFromCsr,
  verifyCsr,
  verifyChain,
  workloadSpiffeId,
  type Certificate,
  type KeySpec,
} from '../../../src/pki/index.js';
import { requirePeer } from '../peer.js';

// openssl is the referee: every certificate, chain and CSR meshca makes must satisfy it, and
// meshca must accept what it makes.
describe.runIf(requirePeer('openssl', 'openssl'))('openssl cross-checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-openssl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (content: string): string => {
    const path = join(dir, `f${n++}.pem`);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const openssl = (...args: string[]): string =>
    execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // Certificates are issued at the real time so that openssl, which has no clock option for x509 -text, agrees on validity.
  const now = new Date();

  const hierarchy = (
    spec: KeySpec,
  ): {
    root: Certificate;
    rootKey: ReturnType<typeof generatePrivateKey>;
    ca: Certificate;
    caKey: ReturnType<typeof generatePrivateKey>;
  } => {
    const rootKey = generatePrivateKey(spec);
    const root = issueCertificate(
      {
        publicKey: rootKey,
        subject: { commonName: 'meshca root', organizations: ['meshca'] },
        isCA: true,
        lifetimeMs: 30 * 365 * 86_400_000,
      },
      { selfSigned: rootKey },
      { now },
    );
    const caKey = generatePrivateKey(spec);
    const ca = issueCertificate(
      {
        publicKey: caKey,
        subject: { commonName: 'istio-intermediate-ca.cluster.local' },
        isCA: true,
        pathLen: 0,
        lifetimeMs: 720 * 3_600_000,
        nameConstraints: { permittedUriDomains: ['cluster.local'], permittedDnsDomains: ['cluster.local'] },
      },
      { certificate: root, key: rootKey },
      { now, backdateMs: 60_000 },
    );
    return { root, rootKey, ca, caKey };
  };

  it.each<[KeySpec]>([
    [{ algorithm: 'ECDSA' }],
    [{ algorithm: 'ECDSA', size: 384 }],
    [{ algorithm: 'RSA' }],
    [{ algorithm: 'Ed25519' }],
  ])(
    'a %j hierarchy and a workload leaf pass openssl verify -x509_strict and parse with openssl x509 -text',
    (spec) => {
      const { root, ca, caKey } = hierarchy(spec);
      const leafKey = generatePrivateKey();
      const csr = parseCsr(
        buildCsr({
          key: leafKey,
          sans: {
            uris: [workloadSpiffeId('cluster.local', 'default', 'web')],
            dnsNames: ['web.default.svc.cluster.local'],
            ipAddresses: ['10.1.2.3'],
          },
        }),
      );
      verifyCsr(csr);
      const leaf = issueCertificate(
        templateFromCsr(csr, { lifetimeMs: 3_600_000, extKeyUsages: ['serverAuth', 'clientAuth'] }),
        { certificate: ca, key: caKey },
        { now, backdateMs: 60_000 },
      );
      const rootFile = file(root.pem);
      const out = openssl(
        'verify',
        '-x509_strict',
        '-purpose',
        'sslserver',
        '-CAfile',
        rootFile,
        '-untrusted',
        file(ca.pem),
        file(leaf.pem),
      );
      expect(out.trim()).toMatch(/: OK$/);
      expect(openssl('verify', '-x509_strict', '-CAfile', rootFile, file(ca.pem)).trim()).toMatch(/: OK$/);
      expect(openssl('verify', '-x509_strict', '-CAfile', rootFile, rootFile).trim()).toMatch(/: OK$/);
      const text = openssl('x509', '-in', file(leaf.pem), '-noout', '-text', '-serial');
      expect(text).toContain('URI:spiffe://cluster.local/ns/default/sa/web');
      expect(text).toContain(`serial=${leaf.serialNumber.toUpperCase()}`);
      expect(openssl('x509', '-in', file(ca.pem), '-noout', '-text')).toMatch(
        /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:cluster.local\s+URI:cluster.local/,
      );
    },
  );

  it('openssl refuses a leaf whose name breaks the intermediate’s name constraints, as meshca does', () => {
    const { root, rootKey, ca, caKey } = hierarchy({ algorithm: 'ECDSA' });
    const evil = {
      publicKey: generatePrivateKey(),
      sans: { uris: ['spiffe://evil.local/ns/a/sa/b'] },
      lifetimeMs: 3_600_000,
    };
    // meshca will not sign outside its own CA's name constraints…
    expect(() => issueCertificate(evil, { certificate: ca, key: caKey }, { now })).toThrow(
      /forbid this certificate: URI "spiffe:\/\/evil.local\/ns\/a\/sa\/b" is not within the permitted cluster.local/,
    );
    // …so the leaf is signed by an unconstrained twin of the intermediate (same name and key): to
    // a verifier it is a leaf of the constrained intermediate.
    const twin = issueCertificate(
      {
        publicKey: caKey,
        subject: { commonName: 'istio-intermediate-ca.cluster.local' },
        isCA: true,
        pathLen: 0,
        lifetimeMs: 720 * 3_600_000,
      },
      { certificate: root, key: rootKey },
      { now, backdateMs: 60_000 },
    );
    const leaf = issueCertificate(evil, { certificate: twin, key: caKey }, { now });
    expect(() =>
      openssl(
        'verify',
        '-x509_strict',
        '-CAfile',
        file(root.pem),
        '-untrusted',
        file(ca.pem),
        file(leaf.pem),
      ),
    ).toThrow(/permitted subtree violation/);
    const ours = verifyChain(leaf, { intermediates: [ca], roots: [root], at: now });
    expect(ours.ok).toBe(false);
    if (!ours.ok) expect(ours.reason).toMatch(/is not within the permitted cluster.local/);
  });

  it.each([
    ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ['RSA 2048', ['-newkey', 'rsa:2048']],
    ['Ed25519', ['-newkey', 'ed25519']],
  ])('accepts a %s CSR made by openssl req, and its key', (_name, keyArgs) => {
    const keyFile = join(dir, `k${n++}.pem`);
    const csrPem = openssl(
      'req',
      '-new',
      ...keyArgs,
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      '/CN=app.example.com/O=Example',
      '-addext',
      'subjectAltName=DNS:app.example.com,URI:spiffe://cluster.local/ns/a/sa/b,IP:192.0.2.1',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=serverAuth',
    );
    const csr = parseCsr(csrPem);
    verifyCsr(csr);
    expect(csr.subject).toEqual({ commonName: 'app.example.com', organizations: ['Example'] });
    expect(csr.sans).toEqual({
      dnsNames: ['app.example.com'],
      ipAddresses: ['192.0.2.1'],
      uris: ['spiffe://cluster.local/ns/a/sa/b'],
      emailAddresses: [],
    });
    expect(csr.keyUsages).toEqual(['digitalSignature']);
    expect(csr.extKeyUsages).toEqual(['serverAuth']);
    const key = parsePrivateKey(execFileSync('cat', [keyFile]));
    expect(publicKeysEqual(key, csr.publicKey)).toBe(true);
  });

  it('reads the SEC1 and PKCS#1 keys openssl writes', () => {
    const ec = openssl('ecparam', '-name', 'prime256v1', '-genkey');
    expect(parsePrivateKey(ec).asymmetricKeyType).toBe('ec');
    const rsa = openssl('genrsa', '-traditional', '2048');
    expect(rsa).toContain('BEGIN RSA PRIVATE KEY');
    expect(parsePrivateKey(rsa).asymmetricKeyType).toBe('rsa');
  });

  it('writes keys openssl reads', () => {
    for (const spec of [
      { algorithm: 'ECDSA' },
      { algorithm: 'RSA' },
      { algorithm: 'Ed25519' },
    ] as KeySpec[]) {
      const pem = encodePrivateKey(generatePrivateKey(spec));
      expect(openssl('pkey', '-in', file(pem), '-noout', '-text')).toMatch(/Private-Key|private key/i);
    }
  });

  it.each<[KeySpec]>([
    [{ algorithm: 'ECDSA' }],
    [{ algorithm: 'ECDSA', size: 384 }],
    [{ algorithm: 'RSA' }],
    [{ algorithm: 'Ed25519' }],
  ])('a %j CSR made by meshca passes openssl req -verify', (spec) => {
    const pem = buildCsr({
      key: generatePrivateKey(spec),
      subject: { commonName: 'x', countries: ['DE'] },
      sans: { dnsNames: ['x.example'], emailAddresses: ['a@example.com'] },
      keyUsages: ['digitalSignature'],
      extKeyUsages: ['clientAuth'],
      isCA: false,
    });
    const out = execFileSync('openssl', ['req', '-verify', '-noout', '-text', '-in', file(pem)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toContain('DNS:x.example');
    expect(out).toContain('email:a@example.com');
  });

  it('parses a certificate made by openssl', () => {
    const keyFile = join(dir, `k${n++}.pem`);
    const pem = openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      '/C=DE/O=Example/CN=openssl root',
      '-days',
      '10',
      '-addext',
      'subjectAltName=DNS:root.example',
    );
    const c = parseCertificate(pem);
    expect(c.subject).toEqual({ countries: ['DE'], organizations: ['Example'], commonName: 'openssl root' });
    expect(c.subjectString).toBe('CN=openssl root, O=Example, C=DE');
    expect(c.isCA).toBe(true);
    expect(c.selfSigned).toBe(true);
    expect(c.sans.dnsNames).toEqual(['root.example']);
    expect(
      openssl('x509', '-in', file(pem), '-noout', '-fingerprint', '-sha256').replace(/:/g, '').toLowerCase(),
    ).toContain(c.fingerprintSha256);
  });
});
