import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getCondition } from '../../api/conditions.js';
import type { Resource } from '../../api/resource.js';
import { buildCsr, generatePrivateKey, parseCertificates } from '../../pki/index.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import {
  FakeAcmeServer,
  problemReply,
  type FakeAcmeReply,
} from '../../issuers/acme/testing/fake-acme-server.js';
import type { CertificateObject, RequestObject } from '../certificates/certificate-resources.js';
import { createCertificateControllers } from '../certificates/create-certificate-controllers.js';
import { CERTIFICATE_REQUEST, CLUSTER_ISSUER, ISSUER } from '../certificates/resource-types.js';
import type { Controller } from '../runtime/controller.js';
import { converge, type ConvergeResult } from '../testing/converge.js';
import { createAccountKeyController } from './account-key-controller.js';
import { AcmeIssuerSource } from './acme-issuer-source.js';
import { createAcmeRequestController, orderNameOf } from './acme-request-controller.js';
import { MAX_ACME_POLL_MS } from './acme-retry.js';
import { CHALLENGE, ORDER } from './acme-types.js';
import { createChallengeController } from './challenge-controller.js';
import { createAcmeControllers } from './create-acme-controllers.js';
import { createOrderController, type OrderObject } from './order-controller.js';

const NS = 'gateways';
const NAME = 'web.example.test';
const T0 = new Date('2030-01-01T00:00:00Z');
const POLL_MS = 1000;
const RETRY_MS = 10_000;
const accountKeyPem = generatePrivateKey().export({ type: 'pkcs8', format: 'pem' }).toString();
const certKey = generatePrivateKey();
const csrB64 = Buffer.from(buildCsr({ key: certKey, sans: { dnsNames: [NAME] } })).toString('base64');

let fake: FakeAcmeServer;
let store: SqliteStore;
let now: Date;
let logs: string[];
let controllers: ReturnType<typeof createAcmeControllers>;

beforeAll(() => {
  fake = new FakeAcmeServer();
});

afterAll(async () => {
  await fake.close();
});

beforeEach(async () => {
  fake.clear();
  await fake.start();
  now = T0;
  logs = [];
  store = openSqliteStore({ path: ':memory:', clock: () => now.getTime() });
  controllers = createAcmeControllers({
    clusterResourceNamespace: 'cert-manager',
    pollMs: POLL_MS,
    retryBaseMs: RETRY_MS,
    generateAccountKey: () => accountKeyPem,
    timeoutMs: 5000,
  });
  await store.create({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Issuer',
    metadata: { name: 'acme', namespace: NS },
    spec: {
      acme: {
        server: fake.directoryUrl,
        privateKeySecretRef: { name: 'acme-account' },
        caBundle: Buffer.from(fake.caPem).toString('base64'),
        solvers: [{ http01: { ingress: {} } }],
      },
    },
  });
  const created = await store.create<Resource>({
    apiVersion: 'cert-manager.io/v1',
    kind: 'CertificateRequest',
    metadata: { name: 'web-1', namespace: NS },
    spec: { request: csrB64, issuerRef: { name: 'acme', kind: 'Issuer', group: 'cert-manager.io' } },
  });
  await store.updateStatus({
    ...created,
    status: {
      conditions: [
        {
          type: 'Approved',
          status: 'True',
          reason: 'meshca',
          message: 'approved by test',
          lastTransitionTime: '2030-01-01T00:00:00Z',
        },
      ],
    },
  });
});

afterEach(async () => {
  await store.close();
  await fake.close();
});

/**
 * Converges, then follows the controllers' own polling: while the next wake-up is at most one poll
 * interval away the clock moves there and converges again. It stops at a longer wait (a backoff,
 * a Retry-After) or when nothing is scheduled, with the clock at the last step.
 */
const settle = async (list: Controller[] = controllers): Promise<ConvergeResult> => {
  for (let step = 0; step < 100; step++) {
    const result = await converge({ store, controllers: list, now: () => now, log: (l) => logs.push(l) });
    const next = result.nextWakeUp;
    if (next === undefined || next.getTime() - now.getTime() > POLL_MS) return result;
    now = next;
  }
  throw new Error('the ACME controllers kept polling for 100 steps');
};

/** The certificate controllers with the ACME ones, as meshca serve runs them. */
const certificateAndAcmeControllers = (): Controller[] => [
  ...createCertificateControllers({ approval: true, clusterResourceNamespace: 'cert-manager' }),
  ...createAcmeControllers({
    clusterResourceNamespace: 'cert-manager',
    pollMs: POLL_MS,
    retryBaseMs: RETRY_MS,
    generateAccountKey: () => accountKeyPem,
    timeoutMs: 5000,
  }),
];

/** The Certificate `gw` for NAME from the `acme` Issuer. */
const createGatewayCertificate = (): Promise<Resource> =>
  store.create({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: 'gw', namespace: NS },
    spec: {
      secretName: 'gw-tls',
      dnsNames: [NAME],
      privateKey: { algorithm: 'ECDSA', size: 256 },
      issuerRef: { name: 'acme', kind: 'Issuer', group: 'cert-manager.io' },
    },
  });

const request = async (): Promise<RequestObject> => {
  const r = await store.tryGet<RequestObject>({ ...CERTIFICATE_REQUEST, namespace: NS, name: 'web-1' });
  if (r === undefined) throw new Error('the request is gone');
  return r;
};

const order = async (): Promise<OrderObject> => {
  const o = await store.tryGet<OrderObject>({ ...ORDER, namespace: NS, name: orderNameOf(await request()) });
  if (o === undefined) throw new Error('no order');
  return o;
};

const challenges = async (): Promise<Resource[]> =>
  (await store.list<Resource>(CHALLENGE, { namespace: NS })).items;

const ready = async (): Promise<{ status?: string; reason?: string; message?: string } | undefined> =>
  getCondition((await request()).status?.conditions, 'Ready');

const pem = (body: string): FakeAcmeReply => ({
  status: 200,
  headers: { 'content-type': 'application/pem-certificate-chain' },
  body,
});

/** The fake answers the challenge response (RFC 8555 §7.5.1) with this instead of validating. */
const answerAccept = (reply: (id: string) => FakeAcmeReply): void =>
  fake.override('challenge', (req) => (req.payload !== undefined ? reply(req.path.split('/')[2] ?? '') : undefined));
/** A challenge response that is not JSON: a final, local error of the challenge. */
const malformedAccept = (): void =>
  answerAccept(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: 'not json' }));
/** The server takes the challenge response but never validates: the authorization stays pending. */
const neverValidate = (): void =>
  answerAccept((id) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: { type: id.slice(id.indexOf('-') + 1), url: fake.url('challenge', id), status: 'processing' },
  }));

const step = (): Promise<ConvergeResult> => converge({ store, controllers, now: () => now, log: (l) => logs.push(l) });

/** The ACME controllers with a presenter that records instead of sending DNS updates. */
const recordingControllers = (records: string[]): Controller[] => {
  const issuers = new AcmeIssuerSource({
    clusterResourceNamespace: 'cert-manager',
    generateAccountKey: () => accountKeyPem,
    timeoutMs: 5000,
  });
  const present = (c: Resource): Promise<void> => {
    records.push(`add ${c.metadata.name}`);
    return Promise.resolve();
  };
  const cleanup = (c: Resource): Promise<void> => {
    records.push(`delete ${c.metadata.name}`);
    return Promise.resolve();
  };
  return [
    createAccountKeyController(ISSUER, issuers),
    createAccountKeyController(CLUSTER_ISSUER, issuers),
    createAcmeRequestController(issuers),
    createOrderController({ issuers, pollMs: POLL_MS, retryBaseMs: RETRY_MS, cleanup }),
    createChallengeController({ issuers, pollMs: POLL_MS, retryBaseMs: RETRY_MS, present, cleanup }),
  ];
};

/** Switches the issuer to a DNS-01 solver. */
const useDns01 = async (dns01: Record<string, unknown>): Promise<void> => {
  const issuer = (await store.tryGet<Resource>({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', namespace: NS, name: 'acme' }))!;
  const spec = issuer['spec'] as { acme: Record<string, unknown> };
  await store.update({ ...issuer, spec: { acme: { ...spec.acme, solvers: [{ dns01 }] } } });
};

const orders = async (): Promise<OrderObject[]> => (await store.list<OrderObject>(ORDER, { namespace: NS })).items;

const deleteRequest = (): Promise<void> => store.delete({ ...CERTIFICATE_REQUEST, namespace: NS, name: 'web-1' });

describe('the ACME controllers against the fake server', () => {
  it('issue the request through order, challenge, finalize and download, then clean up', async () => {
    await settle();
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
    const certificate = Buffer.from((await request()).status?.certificate ?? '', 'base64').toString();
    expect(certificate).toContain('-----BEGIN CERTIFICATE-----');
    expect((await order()).status?.state).toBe('valid');
    expect(await challenges()).toEqual([]);
  });

  it.each<[string, () => FakeAcmeReply, string]>([
    [
      'a certificate for another key than the CSR’s',
      () => pem(fake.issuePem(generatePrivateKey(), [NAME])),
      "is for another public key than the CSR's: refusing it",
    ],
    ['a garbage certificate', () => pem('garbage'), 'the answer holds no PEM certificate'],
    ['an empty certificate', () => pem(''), 'the answer holds no PEM certificate'],
  ])('refuse %s: the order errors, the request fails, nothing of it is stored', async (_n, reply, reason) => {
    fake.override('certificate', reply);
    await settle();
    const o = await order();
    expect(o.status?.state).toBe('errored');
    expect(o.status?.reason).toContain("the acme server's answer to the certificate download is malformed: ");
    expect(o.status?.reason).toContain(reason);
    expect(o.status?.certificate).toBeUndefined();
    const r = await request();
    expect(r.status?.certificate).toBeUndefined();
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Failed' });
    expect((await ready())?.message).toContain(reason);
    expect(await challenges()).toEqual([]);
  });

  it('fail the request with the server’s error when the order goes invalid after a failed authorization', async () => {
    fake.override('challenge', (req) => {
      if (req.payload !== undefined) fake.failAuthorization(req.path.split('/')[2]?.split('-')[0] ?? '');
      return undefined;
    });
    await settle();
    const o = await order();
    expect(o.status?.state).toBe('invalid');
    // The order's own error is general; what failed is on the authorization's challenge.
    const why =
      'an authorization of this order failed (urn:ietf:params:acme:error:unauthorized); ' +
      'authorization for web.example.test is invalid (http-01 challenge): the key authorization at web.example.test did not match (urn:ietf:params:acme:error:unauthorized)';
    expect(o.status?.reason).toBe(why);
    expect((await ready())?.message).toBe(
      `Failed to wait for order resource "${o.metadata.name}" to become ready: order is in "invalid" state: ${why}`,
    );
    expect(await challenges()).toEqual([]);
  });

  const failAuthorizationOnResponse = (): void =>
    fake.override('challenge', (req) => {
      if (req.payload !== undefined) fake.failAuthorization(req.path.split('/')[2]?.split('-')[0] ?? '');
      return undefined;
    });

  it('name the failed authorization when the invalid order carries no error of its own', async () => {
    failAuthorizationOnResponse();
    fake.override('order', (_req, standard) => {
      const { error: _e, ...body } = standard().body as Record<string, unknown>;
      return { ...standard(), body };
    });
    await settle();
    const o = await order();
    expect(o.status?.state).toBe('invalid');
    expect(o.status?.reason).toBe(
      'the acme server marked the order invalid; authorization for web.example.test is invalid (http-01 challenge): ' +
        'the key authorization at web.example.test did not match (urn:ietf:params:acme:error:unauthorized)',
    );
  });

  it('still mark the order invalid, with its own error, when the failed authorization cannot be read', async () => {
    failAuthorizationOnResponse();
    fake.override('authorization', (_req, standard) => {
      const reply = standard();
      return (reply.body as { status?: string }).status === 'invalid'
        ? problemReply(500, 'serverInternal', 'authorization store offline')
        : reply;
    });
    await settle();
    const o = await order();
    expect(o.status?.state).toBe('invalid');
    expect(o.status?.reason).toBe('an authorization of this order failed (urn:ietf:params:acme:error:unauthorized)');
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Failed' });
  });

  it('error the order, naming the field, when the server answers an order without finalize', async () => {
    fake.override('newOrder', (_req, standard) => {
      const { finalize: _f, ...body } = standard().body as Record<string, unknown>;
      return { ...standard(), body };
    });
    await settle();
    const o = await order();
    expect(o.status?.state).toBe('errored');
    expect(o.status?.reason).toMatch(/the acme server's answer to the new order is malformed: finalize: /);
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Failed' });
  });

  it('wait until Retry-After when rate-limited, keep the request pending, then issue', async () => {
    fake.override('newOrder', () =>
      problemReply(429, 'rateLimited', 'too many new orders', { 'retry-after': '120' }),
    );
    const first = await settle();
    const o = await order();
    expect(o.status?.state).toBeUndefined();
    expect(o.status?.reason).toContain('too many new orders (urn:ietf:params:acme:error:rateLimited)');
    expect(first.wakeUps.get(`orders Order ${NS}/${o.metadata.name}`)?.toISOString()).toBe(
      '2030-01-01T00:02:00.000Z',
    );
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Pending' });
    fake.clear();
    now = new Date('2030-01-01T00:02:00Z');
    await settle();
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
  });

  it('retry a challenge the server did not answer after its backoff, not at once on its own status write', async () => {
    fake.override('challenge', (req) => (req.payload !== undefined ? 'reset' : undefined));
    const accepts = (): number =>
      fake.requests.filter((r) => r.endpoint === 'challenge' && r.payload !== undefined).length;
    const challengeReason = async (): Promise<string> =>
      ((await challenges())[0]?.['status'] as { reason?: string } | undefined)?.reason ?? '';
    // The order keeps polling meanwhile, so step through every wake-up rather than settle().
    const converged = (): Promise<ConvergeResult> =>
      converge({ store, controllers, now: () => now, log: (l) => logs.push(l) });
    let result = await converged();
    for (let i = 0; i < 20 && !(await challengeReason()).includes('no HTTP answer'); i++) {
      now = result.nextWakeUp!;
      result = await converged();
    }
    expect(await challengeReason()).toContain('no HTTP answer');
    expect(accepts()).toBe(1);
    const timer = `challenges Challenge ${NS}/${(await challenges())[0]!.metadata.name}`;
    const retryAt = result.wakeUps.get(timer)!;
    expect(retryAt).toEqual(new Date(now.getTime() + RETRY_MS));
    fake.clear();
    for (let i = 0; i < 40 && now < retryAt; i++) {
      now = result.nextWakeUp!;
      result = await converged();
      if (now < retryAt) expect(accepts(), `accepted again at ${now.toISOString()}`).toBe(0);
    }
    await settle();
    expect(accepts()).toBe(1);
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
  });

  it('retry with backoff when the server goes away mid-order, losing nothing, then issue when it is back', async () => {
    fake.override('finalize', () => 'reset');
    const first = await settle();
    const o = await order();
    const url = o.status?.url;
    expect(url).toBeDefined();
    expect(o.status?.state).not.toBe('errored');
    expect(o.status?.reason).toContain(
      'for the order finalization: no HTTP answer (connection refused, reset, TLS failure or timeout)',
    );
    // One attempt, then the first backoff step: the order's own status write does not retry early.
    const orderTimer = `orders Order ${NS}/${o.metadata.name}`;
    expect(first.wakeUps.get(orderTimer)).toEqual(new Date(now.getTime() + RETRY_MS));
    expect(fake.requests.filter((r) => r.endpoint === 'finalize')).toHaveLength(1);
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Pending' });

    // Gone altogether: connection refused, still retryable.
    await fake.close();
    now = first.wakeUps.get(orderTimer)!;
    const second = await settle();
    const o2 = await order();
    expect(o2.status?.url).toBe(url);
    expect(o2.status?.state).not.toBe('errored');
    expect(o2.status?.reason).toContain('connect ECONNREFUSED');
    // The second attempt, and the second backoff step (twice the first).
    const retryAt = second.wakeUps.get(orderTimer);
    expect(retryAt).toEqual(new Date(now.getTime() + 2 * RETRY_MS));

    fake.clear();
    await fake.start();
    now = retryAt ?? now;
    await settle();
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
    expect((await order()).status?.url).toBe(url);
  });
});

describe('an order whose challenge fails for good, or that waits on the server', () => {
  it.each<[string, () => Promise<void>, RegExp]>([
    [
      'a malformed answer to the challenge response',
      () => Promise.resolve(malformedAccept()),
      /^challenge web-1-\d+-\d+ \(HTTP-01 for web\.example\.test\) failed and will not be retried: the acme server's answer to the challenge response is malformed: /,
    ],
    [
      'a dns01 provider meshca does not drive',
      () => useDns01({ cloudflare: { email: 'ops@example.test' } }),
      /^challenge web-1-\d+-\d+ \(DNS-01 for web\.example\.test\) failed and will not be retried: the dns01 provider "cloudflare" of this solver is not one meshca drives$/,
    ],
  ])('fails the order at once, naming the challenge, on %s, and stops polling', async (_n, arrange, reason) => {
    await arrange();
    const result = await settle();
    const o = await order();
    expect(o.status?.state).toBe('errored');
    expect(o.status?.reason).toMatch(reason);
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Failed' });
    expect((await ready())?.message).toBe(
      `Failed to wait for order resource "${o.metadata.name}" to become ready: order is in "errored" state: ${o.status?.reason ?? ''}`,
    );
    expect(await challenges()).toEqual([]);
    // Nothing polls on: no timer is left, and the server saw one or two order reads at most.
    expect(result.nextWakeUp).toBeUndefined();
    expect(fake.requests.filter((r) => r.endpoint === 'order').length).toBeLessThanOrEqual(2);
  });

  it('polls a pending authorization with backoff, at most a minute apart, not every poll interval for ever', async () => {
    neverValidate();
    const end = new Date(T0.getTime() + 1_200_000);
    let result = await step();
    for (let i = 0; i < 400 && result.nextWakeUp !== undefined && now < end; i++) {
      now = result.nextWakeUp;
      result = await step();
    }
    expect(now.getTime()).toBeGreaterThanOrEqual(end.getTime());
    expect((await order()).status?.state).toBe('pending');
    expect(await ready()).toMatchObject({ status: 'False', reason: 'Pending' });
    // Twenty minutes: about 26 polls each of the order and the challenge (1, 2, 4 … 32 s, then
    // every minute); a fixed one-second poll would have made 1200 of each.
    const orderPolls = fake.requests.filter((r) => r.endpoint === 'order').length;
    const authorizationReads = fake.requests.filter((r) => r.endpoint === 'authorization').length;
    expect(orderPolls).toBeGreaterThan(20);
    expect(orderPolls).toBeLessThan(32);
    expect(authorizationReads).toBeLessThan(64);
    const o = await order();
    const c = (await challenges())[0]!;
    for (const timer of [`orders Order ${NS}/${o.metadata.name}`, `challenges Challenge ${NS}/${c.metadata.name}`]) {
      const wait = result.wakeUps.get(timer)!.getTime() - now.getTime();
      expect(wait, timer).toBeGreaterThan(0);
      expect(wait, timer).toBeLessThanOrEqual(MAX_ACME_POLL_MS);
    }
  });
});

describe('garbage collection of Orders and Challenges whose owner is gone', () => {
  it('stops an order in flight when its request is deleted: the presented challenge is taken down, both are deleted, the server hears no more', async () => {
    const records: string[] = [];
    controllers = recordingControllers(records);
    await useDns01({ rfc2136: { nameserver: '127.0.0.1:53' } });
    neverValidate();
    let result = await step();
    for (let i = 0; i < 10 && (await challenges())[0]?.['status'] === undefined; i++) {
      now = result.nextWakeUp ?? now;
      result = await step();
    }
    for (let i = 0; i < 5; i++) {
      now = result.nextWakeUp ?? now;
      result = await step();
    }
    const [challenge] = await challenges();
    expect(challenge?.['status']).toMatchObject({ presented: true, state: 'pending' });
    expect(records).toEqual([`add ${challenge!.metadata.name}`]);
    const o = await order();
    await deleteRequest();
    result = await step();
    expect(await orders()).toEqual([]);
    expect(await challenges()).toEqual([]);
    expect(records).toEqual([`add ${challenge!.metadata.name}`, `delete ${challenge!.metadata.name}`]);
    expect(logs.some((l) => l.includes('acme order garbage-collected'))).toBe(true);
    expect(result.wakeUps.has(`orders Order ${NS}/${o.metadata.name}`)).toBe(false);
    // Nothing left that talks to the server: no timer, no request, however long.
    const seen = fake.requests.length;
    now = new Date(now.getTime() + 86_400_000);
    result = await step();
    expect(result.nextWakeUp).toBeUndefined();
    expect(fake.requests.length).toBe(seen);
    expect(fake.requests.some((r) => r.endpoint === 'finalize')).toBe(false);
  });

  it.each([
    ['as the deletion happens', false],
    ['found at start-up, deleted while the controllers were down', true],
  ])('deletes the final order of a deleted request, %s', async (_n, restart) => {
    await settle();
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
    expect((await orders()).map((o) => o.status?.state)).toEqual(['valid']);
    await deleteRequest();
    if (restart) controllers = [...controllers]; // a new array: a fresh runtime, its initial list
    await step();
    expect(await orders()).toEqual([]);
  });

  it('takes down and deletes the challenges of an order deleted by hand, also when found at start-up', async () => {
    const records: string[] = [];
    controllers = recordingControllers(records);
    await useDns01({ rfc2136: { nameserver: '127.0.0.1:53' } });
    neverValidate();
    let result = await step();
    for (let i = 0; i < 6; i++) {
      now = result.nextWakeUp ?? now;
      result = await step();
    }
    const first = (await challenges())[0]!;
    expect(first['status']).toMatchObject({ presented: true });
    // By hand, as `meshca delete order` does: the Order controller sees the deletion.
    await store.delete({ ...ORDER, namespace: NS, name: (await order()).metadata.name });
    await step();
    expect(records).toContain(`delete ${first.metadata.name}`);
    expect((await challenges()).map((c) => c.metadata.name)).not.toContain(first.metadata.name);
    // The request is still there and pending: it gets a new Order, with a new challenge.
    for (let i = 0; i < 6; i++) {
      now = result.nextWakeUp ?? now;
      result = await step();
    }
    const second = (await challenges())[0]!;
    expect(second.metadata.name).not.toBe(first.metadata.name);
    expect(second['status']).toMatchObject({ presented: true });
    // Now while the controllers are down: at start-up the Challenge controller finds the orphan.
    await store.delete({ ...ORDER, namespace: NS, name: (await order()).metadata.name });
    const fresh = recordingControllers(records);
    await converge({ store, controllers: fresh.filter((c) => c.name === 'challenges'), now: () => now });
    expect(records).toContain(`delete ${second.metadata.name}`);
    expect(await challenges()).toEqual([]);
  });

  it('does not hand the order of a deleted request to a new request of the same name and CSR', async () => {
    await settle();
    const old = await order();
    expect(old.status?.state).toBe('valid');
    const before = await request();
    await deleteRequest();
    const created = await store.create<Resource>({
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: { name: 'web-1', namespace: NS },
      spec: before.spec,
    });
    await store.updateStatus({ ...created, status: { conditions: before.status?.conditions?.filter((c) => c.type === 'Approved') } });
    await settle();
    expect(await ready()).toMatchObject({ status: 'True', reason: 'Issued' });
    const o = await order();
    expect(o.metadata.name).toBe(old.metadata.name);
    expect(o.metadata.uid).not.toBe(old.metadata.uid);
    expect(o.metadata.ownerReferences?.[0]?.uid).toBe(created.metadata.uid);
    expect(fake.requests.filter((r) => r.endpoint === 'newOrder')).toHaveLength(2);
  });
});

describe('a Certificate through the ACME controllers, when the server adds a name of its own', () => {
  it('is never Ready with the wrong certificate, and is held back by the backoff instead of re-issued at once', async () => {
    const all = certificateAndAcmeControllers();
    // The download: the certificate the CSR asked for (its key, its names) plus one more name.
    fake.override('certificate', (_req, standard) => {
      const reply = standard();
      const [leaf] = parseCertificates(typeof reply.body === 'string' ? reply.body : '');
      return leaf === undefined ? reply : pem(fake.issuePem(leaf.publicKey, [...leaf.sans.dnsNames, 'extra.example.test']));
    });
    const readyStates: string[] = [];
    const watch = store.watch<CertificateObject>({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate' }, { namespace: NS });
    const watching = (async () => {
      for await (const e of watch) readyStates.push(getCondition(e.object.status?.conditions, 'Ready')?.status ?? 'none');
    })();
    await createGatewayCertificate();
    await settle(all);
    await new Promise((r) => setImmediate(r));
    watch.close();
    await watching;
    const gw = (await store.tryGet<CertificateObject>({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: NS, name: 'gw' }))!;
    expect(gw.status?.revision).toBe(1);
    expect(getCondition(gw.status?.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretMismatch' });
    expect(getCondition(gw.status?.conditions, 'Issuing')?.message).toContain('does not match the spec');
    expect(gw.status?.failedIssuanceAttempts).toBe(1);
    // The issuing controller wrote Ready as the readiness controller sees it: never True.
    expect(readyStates.length).toBeGreaterThan(0);
    expect(readyStates).not.toContain('True');
    // One order for it (the file's own request web-1 has another).
    const orders = (await store.list<Resource>(ORDER, { namespace: NS })).items.map((o) => o.metadata.name);
    expect(orders.filter((n) => n.startsWith('gw-'))).toHaveLength(1);
  });
});

describe('a Certificate through the ACME controllers, when a challenge of its order errors', () => {
  it('fails its issuance with the challenge’s reason, and backs off instead of polling the order', async () => {
    const all = certificateAndAcmeControllers();
    malformedAccept();
    await createGatewayCertificate();
    const result = await settle(all);
    const gw = (await store.tryGet<CertificateObject>({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: NS, name: 'gw' }))!;
    expect(gw.status?.failedIssuanceAttempts).toBe(1);
    const issuing = getCondition(gw.status?.conditions, 'Issuing');
    expect(issuing).toMatchObject({ status: 'False', reason: 'Failed' });
    expect(issuing?.message).toMatch(/order is in "errored" state: challenge gw-\d+-\d+-\d+ \(HTTP-01 for web\.example\.test\) failed and will not be retried: /);
    // The next try is the Certificate's backoff (an hour at the first failure), not a poll.
    expect(result.nextWakeUp === undefined || result.nextWakeUp.getTime() - now.getTime() >= 3_600_000).toBe(true);
    const gwOrders = (await orders()).filter((o) => o.metadata.name.startsWith('gw-'));
    expect(gwOrders.map((o) => o.status?.state)).toEqual(['errored']);
  });
});
