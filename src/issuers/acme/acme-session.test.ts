import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildCsr, generatePrivateKey, issueCertificate, parseCertificates } from '../../pki/index.js';
import { DAY, makeIssued, makeRoot } from '../../pki/testing/pki-fixtures.js';
import { MAX_ALTERNATE_CHAINS } from './acme-alternates.js';
import { AcmeProblemError } from './acme-problem.js';
import { AcmeSession, MAX_ANSWER_BYTES } from './acme-session.js';
import type { AcmeOrder } from './acme-answers.js';
import { FakeAcmeServer, problemReply, type FakeAcmeReply } from './testing/fake-acme-server.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const NAME = 'web.example.test';
const accountKeyPem = generatePrivateKey().export({ type: 'pkcs8', format: 'pem' }).toString();
const certKey = generatePrivateKey();
const csrPem = buildCsr({ key: certKey, sans: { dnsNames: [NAME] } });

let fake: FakeAcmeServer;
let session: AcmeSession;

const newSession = (): AcmeSession =>
  new AcmeSession({
    directoryUrl: fake.directoryUrl,
    accountKeyPem,
    caPem: fake.caPem,
    now: () => NOW,
    timeoutMs: 5000,
  });

beforeAll(() => {
  // One CA pair per file: making keys is the slow part.
  fake = new FakeAcmeServer();
});

beforeEach(async () => {
  fake.clear();
  await fake.start();
  session = newSession();
});

afterEach(async () => {
  await fake.close();
});

/** Runs `fn` and returns the AcmeProblemError it throws (fails the test when it does not throw one). */
async function failure(fn: () => Promise<unknown>): Promise<AcmeProblemError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AcmeProblemError);
    return err as AcmeProblemError;
  }
  throw new Error('expected the call to fail');
}

/** An order driven to `valid` through the fake's standard replies. */
async function validOrder(): Promise<AcmeOrder> {
  const order = await session.createOrder([NAME]);
  const authz = await session.getAuthorization(order.authorizations[0] ?? '');
  const challenge = authz.challenges.find((c) => c.type === 'http-01');
  await session.acceptChallenge(challenge?.url ?? '');
  const ready = await session.getOrder(order.url);
  expect(ready.status).toBe('ready');
  const valid = await session.finalize(ready, csrPem);
  expect(valid.status).toBe('valid');
  return valid;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): FakeAcmeReply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describe('AcmeSession against the fake server', () => {
  it('gets a certificate whose leaf certifies the CSR key through the standard flow', async () => {
    const order = await validOrder();
    const pem = await session.certificate(order, csrPem);
    expect(pem).toContain('-----BEGIN CERTIFICATE-----');
    expect(fake.requests.filter((r) => r.endpoint === 'newAccount')).toHaveLength(1);
  });
});

describe('account registration (RFC 8555 §7.3)', () => {
  const withKey = (keyPem: string, email?: string): AcmeSession =>
    new AcmeSession({
      directoryUrl: fake.directoryUrl,
      accountKeyPem: keyPem,
      caPem: fake.caPem,
      now: () => NOW,
      timeoutMs: 5000,
      ...(email !== undefined && { email }),
    });
  const sent = (endpoint: string): number => fake.requests.filter((r) => r.endpoint === endpoint).length;

  it('finds the account a second issuer shares by its key, without an update the server would refuse as empty', async () => {
    const key = generatePrivateKey().export({ type: 'pkcs8', format: 'pem' }).toString();
    const url = await withKey(key).register();
    expect(await withKey(key).register()).toBe(url);
    expect(sent('newAccount')).toBe(2);
    expect(sent('account')).toBe(0);
  });

  it('updates the contact of an existing account only when the issuer email differs', async () => {
    const key = generatePrivateKey().export({ type: 'pkcs8', format: 'pem' }).toString();
    await withKey(key, 'ops@example.test').register();
    await withKey(key, 'ops@example.test').register();
    expect(sent('account')).toBe(0);
    await withKey(key, 'pki@example.test').register();
    expect(sent('account')).toBe(1);
    const update = fake.requests.find((r) => r.endpoint === 'account');
    expect(update?.payload).toEqual({ contact: ['mailto:pki@example.test'] });
  });
});

describe('answers that are not JSON, of the wrong shape, or too large', () => {
  it.each<[string, 'newOrder' | 'directory', FakeAcmeReply, string]>([
    [
      'an order answer that is HTML, not JSON',
      'newOrder',
      { status: 201, headers: { 'content-type': 'text/html', location: 'x' }, body: '<html>oops</html>' },
      'is not JSON: "<html>oops</html>"',
    ],
    [
      'an order answer labelled JSON that does not parse',
      'newOrder',
      { status: 201, headers: { 'content-type': 'application/json' }, body: '{"status": "pend' },
      'content-type application/json) is not JSON',
    ],
    ['an order answer that is JSON null', 'newOrder', json(201, null), 'is JSON but not an object: "null"'],
    ['an empty order answer', 'newOrder', { status: 201 }, 'is empty, not a JSON object'],
    [
      'a directory that is not JSON',
      'directory',
      { status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' },
      'is not JSON: "hello"',
    ],
    [
      'a directory without newNonce',
      'directory',
      json(200, { newAccount: 'https://127.0.0.1/x' }),
      'Unable to locate API resource URL in ACME directory: "newNonce"',
    ],
    [
      'an order answer whose headers exceed what Node parses (16 KB)',
      'newOrder',
      { ...json(201, {}), headers: { 'content-type': 'application/json', 'x-padding': 'a'.repeat(20_000) } },
      'the answer is not valid HTTP (HPE_HEADER_OVERFLOW)',
    ],
  ])('%s is a final malformed-answer error', async (_name, endpoint, reply, reason) => {
    fake.override(endpoint, () => reply);
    const error = await failure(() => session.createOrder([NAME]));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.problem.type).toBe('meshca:malformed-answer');
    expect(error.message).toContain('is malformed');
    expect(error.message).toContain(reason);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an order without finalize', { status: 'pending', authorizations: [] }, 'finalize: '],
    [
      'an order whose status is outside RFC 8555',
      { status: 'done', authorizations: [], finalize: 'https://127.0.0.1/f' },
      'status: ',
    ],
    [
      'an order whose authorizations are not URLs',
      { status: 'pending', authorizations: ['not a url'], finalize: 'https://127.0.0.1/f' },
      'authorizations.0: ',
    ],
    [
      'an order with more than 100 authorizations',
      {
        status: 'pending',
        authorizations: Array.from({ length: 101 }, (_, i) => `https://127.0.0.1/a/${i}`),
        finalize: 'https://127.0.0.1/f',
      },
      'authorizations: ',
    ],
  ])('%s names the bad field', async (_name, body, field) => {
    fake.override('newOrder', () => json(201, body, { location: fake.url('order', '99') }));
    const error = await failure(() => session.createOrder([NAME]));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.message).toContain(`the acme server's answer to the new order is malformed: ${field}`);
  });

  it('an order answer without a Location header is malformed', async () => {
    fake.override('newOrder', (_req, standard) => {
      const { headers = {}, ...rest } = standard();
      const { location: _dropped, ...kept } = headers;
      return { ...rest, headers: kept };
    });
    const error = await failure(() => session.createOrder([NAME]));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.message).toContain('did not return an order link');
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'an authorization without challenges',
      { identifier: { type: 'dns', value: NAME }, status: 'pending' },
      'challenges: ',
    ],
    [
      'an authorization whose status is outside RFC 8555',
      { identifier: { type: 'dns', value: NAME }, status: 'approved', challenges: [] },
      'status: ',
    ],
    [
      'a challenge whose token is too short',
      {
        identifier: { type: 'dns', value: NAME },
        status: 'pending',
        challenges: [{ type: 'http-01', url: 'https://127.0.0.1/c', status: 'pending', token: 'short' }],
      },
      'challenges.0.token: a challenge token must be 22 to 256 base64url characters',
    ],
  ])('%s names the bad field', async (_name, body, field) => {
    const order = await session.createOrder([NAME]);
    fake.override('authorization', () => json(200, body));
    const error = await failure(() => session.getAuthorization(order.authorizations[0] ?? ''));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.message).toContain(`the authorization fetch is malformed: ${field}`);
  });

  it.each([
    ['declared by Content-Length', false],
    ['sent chunked without a length', true],
  ])('an answer over MAX_ANSWER_BYTES, %s, is refused unread', async (_name, chunked) => {
    const order = await session.createOrder([NAME]);
    fake.override('order', () => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(MAX_ANSWER_BYTES + 1, 0x20),
      chunked,
    }));
    const error = await failure(() => session.getOrder(order.url));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(
      `the acme server's answer to the order fetch is malformed: the answer (HTTP 200) is larger than ${MAX_ANSWER_BYTES} bytes`,
    );
  });

  it('an answer of exactly MAX_ANSWER_BYTES is read', async () => {
    const order = await session.createOrder([NAME]);
    fake.override('order', (_req, standard) => {
      const text = JSON.stringify(standard().body);
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: text.padEnd(MAX_ANSWER_BYTES, ' '),
      };
    });
    expect((await session.getOrder(order.url)).status).toBe('pending');
  });
});

describe('problem documents', () => {
  it('a badNonce is retried by acme-client with a fresh nonce, invisibly', async () => {
    fake.once('newOrder', () => problemReply(400, 'badNonce', 'stale nonce'));
    const order = await session.createOrder([NAME]);
    expect(order.status).toBe('pending');
    expect(fake.requests.filter((r) => r.endpoint === 'newOrder')).toHaveLength(2);
  });

  it('a badNonce that never stops is a retryable error after acme-client’s five retries', async () => {
    fake.override('newOrder', () => problemReply(400, 'badNonce', 'stale nonce'));
    const error = await failure(() => session.createOrder([NAME]));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(
      'the acme server failed the new order: stale nonce (urn:ietf:params:acme:error:badNonce)',
    );
    expect(fake.requests.filter((r) => r.endpoint === 'newOrder')).toHaveLength(6);
  });

  it.each([
    ['delay-seconds', '120', '2030-01-01T00:02:00.000Z'],
    ['an HTTP-date', 'Tue, 01 Jan 2030 01:00:00 GMT', '2030-01-01T01:00:00.000Z'],
  ])(
    'a rateLimited problem with Retry-After as %s is retryable at the asked instant, not slept on',
    async (_n, header, at) => {
      fake.override('newOrder', () =>
        problemReply(429, 'rateLimited', 'too many new orders', { 'retry-after': header }),
      );
      const error = await failure(() => session.createOrder([NAME]));
      expect(error.code).toBe('RATE_LIMITED');
      expect(error.retryable).toBe(true);
      expect(error.retryAfter?.toISOString()).toBe(at);
      expect(error.message).toContain('too many new orders (urn:ietf:params:acme:error:rateLimited)');
      // acme-client's own retry would sleep and ask again; the session hands the wait to the controller.
      expect(fake.requests.filter((r) => r.endpoint === 'newOrder')).toHaveLength(1);
    },
  );

  it('an unauthorized problem is a final refusal carrying the document', async () => {
    fake.override('newAccount', () => problemReply(403, 'unauthorized', 'account key is banned'));
    const error = await failure(() => session.register());
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'the acme server refused the account registration: account key is banned (urn:ietf:params:acme:error:unauthorized)',
    );
    expect(error.problem).toEqual({
      type: 'urn:ietf:params:acme:error:unauthorized',
      detail: 'account key is banned',
      status: 403,
    });
  });

  it('a 503 with an HTML body is retryable at once (no sleeping retries inside)', async () => {
    fake.override('newOrder', () => ({
      status: 503,
      headers: { 'content-type': 'text/html' },
      body: '<h1>down</h1>',
    }));
    const error = await failure(() => session.createOrder([NAME]));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('HTTP 503 without a problem document');
    expect(fake.requests.filter((r) => r.endpoint === 'newOrder')).toHaveLength(1);
  });

  it('an order that goes invalid keeps the server’s error', async () => {
    const order = await session.createOrder([NAME]);
    fake.failAuthorization(order.authorizations[0]?.split('/').pop() ?? '');
    fake.setOrderStatus(order.url.split('/').pop() ?? '', 'invalid');
    const fetched = await session.getOrder(order.url);
    expect(fetched.status).toBe('invalid');
    expect(fetched.error).toEqual({
      type: 'urn:ietf:params:acme:error:unauthorized',
      detail: 'an authorization of this order failed',
    });
    const authz = await session.getAuthorization(order.authorizations[0] ?? '');
    expect(authz.status).toBe('invalid');
    expect(authz.challenges[0]?.error).toMatchObject({
      detail: `the key authorization at ${NAME} did not match`,
    });
  });
});

describe('the certificate download', () => {
  it.each<[string, FakeAcmeReply, string]>([
    [
      'garbage',
      { status: 200, headers: { 'content-type': 'application/pem-certificate-chain' }, body: 'garbage' },
      'the answer holds no PEM certificate',
    ],
    [
      'empty',
      { status: 200, headers: { 'content-type': 'application/pem-certificate-chain' } },
      'the answer holds no PEM certificate',
    ],
    [
      'a PEM block that is not DER',
      {
        status: 200,
        headers: { 'content-type': 'application/pem-certificate-chain' },
        body: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      },
      'the certificate chain does not parse: ',
    ],
  ])('a download that is %s is refused', async (_name, reply, reason) => {
    const order = await validOrder();
    fake.override('certificate', () => reply);
    const error = await failure(() => session.certificate(order, csrPem));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(
      `the acme server's answer to the certificate download is malformed: ${reason}`,
    );
  });

  it('a certificate for another key than the CSR’s is refused', async () => {
    const order = await validOrder();
    fake.override('certificate', () => ({
      status: 200,
      headers: { 'content-type': 'application/pem-certificate-chain' },
      body: fake.issuePem(generatePrivateKey(), [NAME]),
    }));
    const error = await failure(() => session.certificate(order, csrPem));
    expect(error.code).toBe('UPSTREAM_REJECTED');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/is for another public key than the CSR's: refusing it/);
  });

  it('a certificate that leaves out a DNS name of the CSR is refused', async () => {
    const order = await validOrder();
    fake.override('certificate', () => ({
      status: 200,
      headers: { 'content-type': 'application/pem-certificate-chain' },
      body: fake.issuePem(certKey, ['other.example.test']),
    }));
    const error = await failure(() => session.certificate(order, csrPem));
    expect(error.message).toMatch(
      new RegExp(`does not name ${NAME.replace(/\./g, '\\.')}, which the CSR asks for`),
    );
  });
});

describe('DNS names compare case-insensitively (RFC 4343), as ACME servers lowercase them', () => {
  const upperCsrPem = buildCsr({
    key: certKey,
    sans: { dnsNames: ['API.Example.test', '*.Apps.example.test'] },
  });

  it('takes a leaf naming the CSR’s names in lowercase, as Boulder and pebble issue them', async () => {
    const order = await session.createOrder(['API.Example.test', '*.Apps.example.test']);
    fake.override('certificate', () => ({
      status: 200,
      headers: { 'content-type': 'application/pem-certificate-chain' },
      body: fake.issuePem(certKey, ['api.example.test', '*.apps.example.test']),
    }));
    const pem = await session.certificate(
      { ...order, status: 'valid', certificate: fake.url('certificate', '1') },
      upperCsrPem,
    );
    expect(parseCertificates(pem)[0]?.sans.dnsNames).toEqual(['api.example.test', '*.apps.example.test']);
  });

  it('still refuses a leaf that leaves a name out, whatever its case', async () => {
    const order = await session.createOrder(['API.Example.test']);
    fake.override('certificate', () => ({
      status: 200,
      headers: { 'content-type': 'application/pem-certificate-chain' },
      body: fake.issuePem(certKey, ['api.example.test']),
    }));
    const error = await failure(() =>
      session.certificate(
        { ...order, status: 'valid', certificate: fake.url('certificate', '1') },
        upperCsrPem,
      ),
    );
    expect(error.message).toContain('does not name *.Apps.example.test, which the CSR asks for');
  });

  it('sends the order’s identifiers in ASCII lowercase, each once', async () => {
    await session.createOrder([
      'API.Example.test',
      'api.example.test',
      '*.Apps.example.test',
      'ünï.Example.test',
    ]);
    const newOrder = fake.requests.find((r) => r.endpoint === 'newOrder');
    expect(newOrder?.payload).toEqual({
      identifiers: [
        { type: 'dns', value: 'api.example.test' },
        { type: 'dns', value: '*.apps.example.test' },
        { type: 'dns', value: 'ünï.example.test' },
      ],
    });
  });
});

describe('preferredChain and alternate chains (RFC 8555 §7.4.2)', () => {
  // Two chains for one leaf: its intermediate signed by "Root A" (the default) and cross-signed by "Root B".
  const at = new Date(Date.now() - DAY);
  const rootA = makeRoot({ name: 'Root A', now: at });
  const rootB = makeRoot({ name: 'Root B', now: at });
  const viaA = makeIssued(rootA, { isCA: true, subject: { commonName: 'Issuing CA' }, lifetimeMs: 365 * DAY }, { now: at });
  const viaB = issueCertificate(
    { publicKey: viaA.key, subject: { commonName: 'Issuing CA' }, isCA: true, lifetimeMs: 365 * DAY },
    { certificate: rootB.certificate, key: rootB.key },
    { now: at },
  );
  const leaf = issueCertificate(
    { publicKey: certKey, sans: { dnsNames: [NAME] }, lifetimeMs: 90 * DAY, extKeyUsages: ['serverAuth'] },
    { certificate: viaA.certificate, key: viaA.key },
    { now: at },
  );
  const chainA = `${leaf.pem}${viaA.certificate.pem}`;
  const chainB = `${leaf.pem}${viaB.pem}`;
  const pemReply = (body: string, link?: string): FakeAcmeReply => ({
    status: 200,
    headers: { 'content-type': 'application/pem-certificate-chain', ...(link !== undefined && { link }) },
    body,
  });
  const downloads = (): string[] => fake.requests.filter((r) => r.endpoint === 'certificate').map((r) => r.path);
  /** Serves chain A with `link`, and `alternates[n]` at …/alt-n. */
  const serve = (link: (base: string) => string, alternates: Record<string, FakeAcmeReply | 'reset'>): void =>
    fake.override('certificate', (req) => {
      const alt = /\/(alt-\d+)$/.exec(req.path)?.[1];
      if (alt !== undefined) return alternates[alt] ?? problemReply(404, 'malformed', 'no such chain');
      return pemReply(chainA, link(`${fake.url('certificate')}/${req.path.split('/')[2]}`));
    });
  const topIssuer = (pem: string): string | undefined => parseCertificates(pem).at(-1)?.issuer.commonName;

  it('takes the alternate whose root-most certificate is issued by the preferred name', async () => {
    const order = await validOrder();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(chainB) });
    expect(topIssuer(await session.certificate(order, csrPem, 'Root B'))).toBe('Root B');
    expect(downloads()).toHaveLength(2);
  });

  it('keeps the default chain when it already matches, without fetching alternates', async () => {
    const order = await validOrder();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(chainB) });
    expect(topIssuer(await session.certificate(order, csrPem, 'Root A'))).toBe('Root A');
    expect(downloads()).toHaveLength(1);
  });

  it('keeps the default chain when no alternate matches, and without preferredChain fetches none', async () => {
    const order = await validOrder();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(chainB) });
    expect(topIssuer(await session.certificate(order, csrPem, 'Root C'))).toBe('Root A');
    expect(downloads()).toHaveLength(2);
    fake.clear();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(chainB) });
    expect(topIssuer(await session.certificate(order, csrPem))).toBe('Root A');
    expect(downloads()).toHaveLength(1);
  });

  it(`fetches at most ${MAX_ALTERNATE_CHAINS} alternates, one at a time, however many a server lists`, async () => {
    const order = await validOrder();
    const many = (b: string): string => Array.from({ length: 60 }, (_, i) => `<${b}/alt-${i}>;rel="alternate"`).join(', ');
    serve(many, {});
    expect(topIssuer(await session.certificate(order, csrPem, 'Root B'))).toBe('Root A');
    expect(downloads()).toHaveLength(1 + MAX_ALTERNATE_CHAINS);
  });

  it('does not follow an alternate on another origin', async () => {
    const order = await validOrder();
    serve((b) => `<${b.replace('127.0.0.1', 'localhost')}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(chainB) });
    expect(topIssuer(await session.certificate(order, csrPem, 'Root B'))).toBe('Root A');
    expect(downloads()).toHaveLength(1);
  });

  it('passes over an alternate that is garbage, refused, or for another leaf, and takes a later one that is good', async () => {
    const order = await validOrder();
    const otherLeaf = issueCertificate(
      { publicKey: certKey, sans: { dnsNames: [NAME] }, lifetimeMs: 30 * DAY },
      { certificate: viaB, key: viaA.key },
      { now: at },
    );
    serve((b) => [1, 2, 3, 4].map((i) => `<${b}/alt-${i}>;rel="alternate"`).join(', '), {
      'alt-1': pemReply('garbage'),
      'alt-2': problemReply(404, 'malformed', 'gone'),
      'alt-3': pemReply(`${otherLeaf.pem}${viaB.pem}`),
      'alt-4': pemReply(chainB),
    });
    const pem = await session.certificate(order, csrPem, 'Root B');
    expect(pem).toBe(chainB);
    expect(downloads()).toHaveLength(5);
  });

  it('refuses an alternate chain for another key, as it refuses the default one', async () => {
    const order = await validOrder();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': pemReply(fake.issuePem(generatePrivateKey(), [NAME])) });
    // Passed over: the default chain, which is right, comes back.
    expect(await session.certificate(order, csrPem, 'Root B')).toBe(chainA);
  });

  it('gives a retryable error when the server cannot be reached for an alternate: the choice is not made blind', async () => {
    const order = await validOrder();
    serve((b) => `<${b}/alt-1>;rel="alternate"`, { 'alt-1': 'reset' });
    const error = await failure(() => session.certificate(order, csrPem, 'Root B'));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('for the alternate chain download https://127.0.0.1:');
  });
});

describe('the server going away', () => {
  it('a server that is gone mid-order gives a retryable error naming the refusal', async () => {
    const order = await session.createOrder([NAME]);
    await fake.close();
    const error = await failure(() => session.getOrder(order.url));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(
      'no HTTP answer (connection refused, reset, TLS failure or timeout): connect ECONNREFUSED',
    );
    expect(error.problem.type).toBe('meshca:unreachable');
  });

  it.each(['newNonce', 'order'] as const)(
    'a connection reset on %s mid-order gives a retryable error',
    async (endpoint) => {
      const order = await session.createOrder([NAME]);
      fake.override(endpoint, () => 'reset');
      const error = await failure(() => session.getOrder(order.url));
      expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(
        'for the order fetch: no HTTP answer (connection refused, reset, TLS failure or timeout): ',
      );
    },
  );

  it('a server that accepts the request and never answers gives a retryable timeout', async () => {
    const order = await session.createOrder([NAME]);
    const impatient = new AcmeSession({
      directoryUrl: fake.directoryUrl,
      accountKeyPem,
      caPem: fake.caPem,
      now: () => NOW,
      timeoutMs: 150,
    });
    fake.override('order', () => 'hang');
    const error = await failure(() => impatient.getOrder(order.url));
    expect(error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('for the order fetch: no HTTP answer');
    expect(error.message).toContain('no complete answer within 150 ms');
  });
});
