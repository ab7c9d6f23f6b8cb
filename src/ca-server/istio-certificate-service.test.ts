import { generateKeyPairSync } from 'node:crypto';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MeshcaError } from '../errors/index.js';
import { createCallerAuthenticator } from './auth/caller-authenticator.js';
import { createClientCertificateAuthenticator } from './auth/client-certificate-authenticator.js';
import { createJwksSource } from './auth/jwks-source.js';
import { createJwtAuthenticator } from './auth/jwt-authenticator.js';
import { mintServiceAccountToken } from './auth/mint-service-account-token.js';
import { tokenJwks } from './auth/token-jwks.js';
import { createGrpcServer, type GrpcServer, type UnaryCall } from './grpc/grpc-server.js';
import { GrpcStatus } from './grpc/grpc-status.js';
import {
  CREATE_CERTIFICATE_PATH,
  createIstioCertificateService,
  type CaServerEvent,
  type SignRequest,
} from './istio-certificate-service.js';
import { encodeIstioCertificateRequest } from './proto/istio-certificate-request.js';
import { TokenBucketLimiter } from './rate-limit/token-bucket-limiter.js';
import { grpcFrame, rawCall } from './testing/raw-grpc-client.js';
import { makeTestTls, type TestTls } from './testing/test-tls.js';

const ISSUER = 'https://meshca.test';
const START = Date.parse('2031-05-01T12:00:00Z');
const CLUSTER = 'cluster-a';

// The independent client: @grpc/grpc-js with the .proto loaded by @grpc/proto-loader.
const definition = protoLoader.loadSync(fileURLToPath(new URL('../api/proto/ca.proto', import.meta.url)), {
  longs: Number,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } };
};
const ServiceClient = pkg.istio.v1.auth.IstioCertificateService;

let tls: TestTls;
let server: GrpcServer;
let port: number;
let now = START;
const clock = (): number => now;
const signed: SignRequest[] = [];
const events: CaServerEvent[] = [];
const logged: unknown[] = [];
const issuerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let client: grpc.Client & Record<string, unknown>;

const token = (over: Partial<Parameters<typeof mintServiceAccountToken>[0]> = {}): Promise<string> =>
  mintServiceAccountToken({
    key: issuerKey.privateKey,
    kid: 'k1',
    issuer: ISSUER,
    namespace: 'default',
    serviceAccount: 'workload',
    ttlMs: 3600_000,
    now,
    ...over,
  });

interface Outcome {
  code: number;
  details: string;
  chain?: string[];
}

/** One CreateCertificate call through grpc-js. */
const call = (
  request: { csr: string; validityDuration?: number; metadata?: unknown },
  headers: Record<string, string>,
  c: grpc.Client & Record<string, unknown> = client,
): Promise<Outcome> =>
  new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    (
      c.CreateCertificate as (
        r: unknown,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, res?: { certChain: string[] }) => void,
      ) => void
    )(request, md, (err, res) =>
      resolve(
        err
          ? { code: err.code, details: err.details }
          : { code: 0, details: '', chain: res?.certChain ?? [] },
      ),
    );
  });

/** A call whose request bytes are given as they are (garbage, say), still through grpc-js. */
const callBytes = (path: string, bytes: Buffer, headers: Record<string, string>): Promise<Outcome> =>
  new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      md,
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' }),
    );
  });

const makeClient = (key?: string, cert?: string): grpc.Client & Record<string, unknown> =>
  new ServiceClient(
    `localhost:${port}`,
    grpc.credentials.createSsl(
      Buffer.from(tls.caCert),
      key === undefined ? null : Buffer.from(key),
      cert === undefined ? null : Buffer.from(cert),
    ),
  );

beforeAll(async () => {
  tls = makeTestTls();
  const jwks = await tokenJwks([{ key: issuerKey.publicKey, kid: 'k1' }]);
  const authenticate = createCallerAuthenticator({
    jwt: createJwtAuthenticator({
      getKey: createJwksSource({ jwks, clock }).getKey,
      issuers: [ISSUER],
      clock,
    }),
    clientCertificate: createClientCertificateAuthenticator({ trustDomains: ['cluster.local'] }),
  });
  const service = createIstioCertificateService({
    authenticate,
    clusterId: CLUSTER,
    clock,
    rateLimit: new TokenBucketLimiter({ ratePerSecond: 1, burst: 3, maxKeys: 1000, clock }),
    onEvent: (e) => events.push(e),
    sign: (req) => {
      signed.push(req);
      switch (req.csrPem) {
        case 'REJECT':
          return Promise.reject(
            new MeshcaError('CSR_INVALID', 'csr names spiffe://x/ns/a/sa/b, not the caller: 100% wrong, é'),
          );
        case 'CRASH':
          return Promise.reject(new Error('secret internals at /srv/key.pem'));
        case 'SHORT':
          return Promise.resolve(['LEAF']);
        case 'HANG':
          return new Promise<string[]>(() => undefined);
        default:
          return Promise.resolve([
            `LEAF ${req.identity.namespace}/${req.identity.serviceAccount}`,
            'INTERMEDIATE',
            'ROOT',
          ]);
      }
    },
  });
  server = createGrpcServer({
    tls: { key: tls.serverKey, cert: tls.serverCert, ca: tls.caCert, requestCert: true },
    methods: service.methods,
    onError: (err) => logged.push(err),
  });
  port = (await server.listen(0)).port;
  client = makeClient();
});

afterAll(async () => {
  client.close();
  await server.close();
});

beforeEach(() => {
  signed.length = 0;
  events.length = 0;
  now += 3600_000; // every test gets fresh rate-limit buckets and tokens of its own
});

describe('CreateCertificate over gRPC (grpc-js client, real TLS)', () => {
  it('signs for the identity in a valid token and answers the chain leaf first', async () => {
    const out = await call(
      { csr: 'CSR', validityDuration: 3600, metadata: { fields: { k: { stringValue: 'v' } } } },
      {
        authorization: `Bearer ${await token()}`,
        clusterid: CLUSTER,
      },
    );
    expect(out).toEqual({ code: 0, details: '', chain: ['LEAF default/workload', 'INTERMEDIATE', 'ROOT'] });
    expect(signed[0]).toMatchObject({
      csrPem: 'CSR',
      validitySeconds: 3600,
      identity: { namespace: 'default', serviceAccount: 'workload' },
      clusterId: CLUSTER,
      metadata: { k: 'v' },
      now,
    });
    expect(signed[0]?.caller).toMatch(/^jwt:system:serviceaccount:default:workload@127\.0\.0\.1:\d+$/);
    expect(events).toEqual(['csr', 'success_cert_issuance']);
  });

  it('asks the signer for the 24-hour default when validity_duration is zero', async () => {
    await call({ csr: 'CSR' }, { authorization: `Bearer ${await token()}` });
    expect(signed[0]?.validitySeconds).toBe(86400);
  });

  it.each<
    [
      string,
      () => Promise<Record<string, string>>,
      { csr: string; validityDuration?: number },
      number,
      string,
    ]
  >([
    [
      'no token',
      () => Promise.resolve({}),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'no authorization header',
    ],
    [
      'a Basic credential',
      () => Promise.resolve({ authorization: 'Basic dXNlcjpwYXNz' }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'is not "Bearer <token>"',
    ],
    [
      'a token that is not a JWT',
      () => Promise.resolve({ authorization: 'Bearer not.a.jwt' }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'malformed token',
    ],
    [
      'a token signed by another key',
      async () => ({ authorization: `Bearer ${await token({ key: otherKey.privateKey })}` }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'signature does not verify',
    ],
    [
      'an expired token',
      async () => ({ authorization: `Bearer ${await token({ now: now - 7200_000 })}` }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'token expired at',
    ],
    [
      'a token for another audience',
      async () => ({ authorization: `Bearer ${await token({ audience: ['kubernetes'] })}` }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'audience ["kubernetes"] does not include any of istio-ca',
    ],
    [
      'a token from another issuer',
      async () => ({ authorization: `Bearer ${await token({ issuer: 'https://evil' })}` }),
      { csr: 'CSR' },
      GrpcStatus.UNAUTHENTICATED,
      'issuer "https://evil" is not a configured issuer',
    ],
    [
      'another cluster',
      async () => ({ authorization: `Bearer ${await token()}`, clusterid: 'cluster-b' }),
      { csr: 'CSR' },
      GrpcStatus.PERMISSION_DENIED,
      'clusterid "cluster-b" is not this CA\'s cluster "cluster-a"',
    ],
    [
      'an empty csr',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: '' },
      GrpcStatus.INVALID_ARGUMENT,
      'empty csr field',
    ],
    [
      'a negative validity',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: 'CSR', validityDuration: -5 },
      GrpcStatus.INVALID_ARGUMENT,
      'validity_duration -5 is negative',
    ],
    [
      'a CSR the signer rejects',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: 'REJECT' },
      GrpcStatus.INVALID_ARGUMENT,
      'CSR_INVALID: csr names spiffe://x/ns/a/sa/b, not the caller: 100% wrong, é',
    ],
    [
      'a signer that crashes',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: 'CRASH' },
      GrpcStatus.INTERNAL,
      'internal error in the CA server: see its log',
    ],
    [
      'a signer that returns no root',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: 'SHORT' },
      GrpcStatus.INTERNAL,
      'needs the leaf and the root',
    ],
    [
      'an oversized request',
      async () => ({ authorization: `Bearer ${await token()}` }),
      { csr: 'x'.repeat(100_000) },
      GrpcStatus.INVALID_ARGUMENT,
      'request message too large: 100004 bytes exceeds the limit of 65536 bytes',
    ],
  ])(
    'answers %s with its status and a message that says what was wrong',
    async (_name, headers, request, code, message) => {
      const out = await call(request, await headers());
      expect(out.code).toBe(code);
      expect(out.details).toContain(message);
      expect(out.details).not.toContain('/srv/key.pem');
    },
  );

  it('counts a failed authentication and an unreadable identity apart', async () => {
    await call({ csr: 'CSR' }, {});
    // A correctly signed token that names no service account (no kubernetes.io claim, no sub).
    const anonymous = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('istio-ca')
      .setExpirationTime(Math.floor(now / 1000) + 600)
      .sign(issuerKey.privateKey);
    const out = await call({ csr: 'CSR' }, { authorization: `Bearer ${anonymous}` });
    expect(out.details).toContain('token names no service account');
    expect(events).toEqual(['csr', 'authentication_failure', 'csr', 'id_extraction_error']);
  });

  it('answers a garbage body with INVALID_ARGUMENT naming the protobuf problem', async () => {
    const out = await callBytes(CREATE_CERTIFICATE_PATH, Buffer.from([0x0a, 0xff, 0x01]), {
      authorization: `Bearer ${await token()}`,
    });
    expect(out).toEqual({
      code: GrpcStatus.INVALID_ARGUMENT,
      details: expect.stringContaining(
        'malformed protobuf message: length-delimited field runs past the end',
      ) as unknown,
    });
    expect(events).toContain('csr_parsing_error');
  });

  it('answers an unknown method with UNIMPLEMENTED', async () => {
    const out = await callBytes('/istio.v1.auth.IstioCertificateService/Nope', Buffer.alloc(0), {});
    expect(out.code).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(out.details).toContain('unknown method "/istio.v1.auth.IstioCertificateService/Nope"');
  });

  it('limits one identity with RESOURCE_EXHAUSTED while another is served, and refills with time', async () => {
    const greedy = { authorization: `Bearer ${await token({ serviceAccount: 'greedy' })}` };
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await call({ csr: 'CSR' }, greedy)).code);
    expect(codes).toEqual([0, 0, 0, GrpcStatus.RESOURCE_EXHAUSTED]);
    const limited = await call({ csr: 'CSR' }, greedy);
    expect(limited.details).toContain('too many certificate requests for default/greedy');
    expect((await call({ csr: 'CSR' }, { authorization: `Bearer ${await token()}` })).code).toBe(0);
    now += 1000;
    expect((await call({ csr: 'CSR' }, greedy)).code).toBe(0);
  });

  it('authenticates a renewal by a trusted client certificate and no token', async () => {
    const mtls = makeClient(tls.clientKey, tls.clientCert);
    try {
      const out = await call({ csr: 'CSR' }, {}, mtls);
      expect(out.code).toBe(0);
      expect(signed[0]?.identity).toEqual({
        namespace: 'default',
        serviceAccount: 'workload',
        trustDomain: 'cluster.local',
      });
      expect(signed[0]?.caller).toMatch(
        /^client-certificate:spiffe:\/\/cluster\.local\/ns\/default\/sa\/workload@/,
      );
    } finally {
      mtls.close();
    }
  });

  it('refuses a client certificate that does not chain to the CA', async () => {
    const mtls = makeClient(tls.untrustedKey, tls.untrustedCert);
    try {
      const out = await call({ csr: 'CSR' }, {}, mtls);
      expect(out.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(out.details).toContain('client certificate chain is not trusted: ');
    } finally {
      mtls.close();
    }
  });

  it('keeps serving other callers while one call hangs past its deadline', async () => {
    const auth = { authorization: `Bearer ${await token()}` };
    const hung = new Promise<Outcome>((resolve) => {
      const md = new grpc.Metadata();
      md.set('authorization', auth.authorization);
      (
        client.CreateCertificate as (
          r: unknown,
          m: grpc.Metadata,
          o: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null) => void,
        ) => void
      )({ csr: 'HANG' }, md, { deadline: Date.now() + 300 }, (err) =>
        resolve({ code: err?.code ?? 0, details: err?.details ?? '' }),
      );
    });
    expect((await call({ csr: 'CSR' }, auth)).code).toBe(0);
    expect((await hung).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect((await call({ csr: 'CSR' }, auth)).code).toBe(0);
  });
});

describe('the gRPC transport with malformed HTTP/2 requests', () => {
  let session: http2.ClientHttp2Session;
  let auth: Record<string, string>;
  beforeEach(async () => {
    session = http2.connect(`https://localhost:${port}`, { ca: tls.caCert });
    auth = { authorization: `Bearer ${await token()}` };
  });
  const close = (): Promise<void> => new Promise((r) => session.close(() => r()));
  const good = (): Buffer => grpcFrame(encodeIstioCertificateRequest({ csr: 'CSR' }));

  it.each<[string, () => http2.OutgoingHttpHeaders, () => Buffer[], number, string]>([
    [
      'a compressed message',
      () => ({ ...auth, 'grpc-encoding': 'gzip' }),
      () => [grpcFrame(Buffer.from('x'), 1)],
      GrpcStatus.UNIMPLEMENTED,
      'compressed messages (grpc-encoding gzip) are not supported',
    ],
    [
      'a reserved flag bit',
      () => auth,
      () => [grpcFrame(Buffer.from('x'), 2)],
      GrpcStatus.INVALID_ARGUMENT,
      'compressed-flag byte is 2',
    ],
    [
      'a truncated message',
      () => auth,
      () => [grpcFrame(Buffer.from('abc'), 0, 10)],
      GrpcStatus.INVALID_ARGUMENT,
      'truncated request message: received 3 of 10 bytes',
    ],
    [
      'a truncated prefix',
      () => auth,
      () => [Buffer.from([0, 0])],
      GrpcStatus.INVALID_ARGUMENT,
      'received 2 of 5 prefix bytes',
    ],
    [
      'no message at all',
      () => auth,
      () => [],
      GrpcStatus.INVALID_ARGUMENT,
      'the request carried no message',
    ],
    [
      'two messages on a unary method',
      () => auth,
      () => [good(), good()],
      GrpcStatus.INVALID_ARGUMENT,
      'more than one request message',
    ],
    [
      'a malformed grpc-timeout',
      () => ({ ...auth, 'grpc-timeout': '1 second' }),
      () => [good()],
      GrpcStatus.INVALID_ARGUMENT,
      'malformed grpc-timeout header "1 second"',
    ],
    [
      'an unknown path',
      () => ({ ...auth, ':path': '/__proto__' }),
      () => [good()],
      GrpcStatus.UNIMPLEMENTED,
      'unknown method "/__proto__"',
    ],
  ])('answers %s with its status', async (_name, headers, body, code, message) => {
    try {
      const res = await rawCall(session, { ':path': CREATE_CERTIFICATE_PATH, ...headers() }, body());
      expect(res.status).toBe(200);
      expect(res.grpcStatus).toBe(code);
      expect(res.grpcMessage).toContain(message);
    } finally {
      await close();
    }
  });

  it('answers a wrong content-type with HTTP 415', async () => {
    try {
      const res = await rawCall(
        session,
        { ':path': CREATE_CERTIFICATE_PATH, 'content-type': 'application/json' },
        [Buffer.from('{}')],
      );
      expect(res.status).toBe(415);
      expect(res.grpcMessage).toContain('unsupported content-type "application/json": send application/grpc');
    } finally {
      await close();
    }
  });

  it('answers GET with HTTP 405', async () => {
    try {
      const res = await rawCall(session, { ':path': CREATE_CERTIFICATE_PATH, ':method': 'GET' }, [], true);
      expect(res.status).toBe(405);
    } finally {
      await close();
    }
  });

  it('refuses an oversized message from its prefix, before the body is sent, and resets the stream', async () => {
    try {
      const res = await rawCall(
        session,
        { ':path': CREATE_CERTIFICATE_PATH, ...auth },
        [grpcFrame(Buffer.alloc(1000), 0, 50_000_000)],
        false,
      );
      expect(res.grpcStatus).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(res.grpcMessage).toContain('too large: 50000000 bytes exceeds the limit of 65536 bytes');
      expect(res.answeredBeforeRequestEnded).toBe(true);
    } finally {
      await close();
    }
  });

  it('ends a call at its grpc-timeout with DEADLINE_EXCEEDED', async () => {
    try {
      const res = await rawCall(
        session,
        { ':path': CREATE_CERTIFICATE_PATH, ...auth, 'grpc-timeout': '50m' },
        [grpcFrame(encodeIstioCertificateRequest({ csr: 'HANG' }))],
      );
      expect(res.grpcStatus).toBe(GrpcStatus.DEADLINE_EXCEEDED);
      expect(res.grpcMessage).toContain('deadline of 50 ms');
    } finally {
      await close();
    }
  });

  it('refuses a header block far over the limit without harming the next caller', async () => {
    const res = await rawCall(
      session,
      { ':path': CREATE_CERTIFICATE_PATH, ...auth, 'x-big': 'y'.repeat(100_000) },
      [good()],
    ).catch((err: unknown) => err);
    expect(res instanceof Error || (res as { grpcStatus?: number }).grpcStatus !== 0).toBe(true);
    session.destroy();
    expect((await call({ csr: 'CSR' }, auth)).code).toBe(0);
  });

  it('answers a well-formed raw call with the chain and grpc-status 0 in the trailers', async () => {
    try {
      const res = await rawCall(session, { ':path': CREATE_CERTIFICATE_PATH, ...auth }, [good()]);
      expect(res.headers['content-type']).toBe('application/grpc+proto');
      expect(res.trailers['grpc-status']).toBe('0');
      expect(res.body.subarray(0, 1)).toEqual(Buffer.from([0]));
      expect(res.body.readUInt32BE(1)).toBe(res.body.length - 5);
    } finally {
      await close();
    }
  });
});

describe('CreateCertificate with an aborted call (deadline passed, client gone)', () => {
  it('stops after authentication, before the rate limit and the signer', async () => {
    let authenticated: (() => void) | undefined;
    const signer = vi.fn<(r: SignRequest) => Promise<string[]>>();
    const take = vi.fn(() => ({ allowed: true, retryAfterMs: 0 }));
    const seen: CaServerEvent[] = [];
    const service = createIstioCertificateService({
      authenticate: () =>
        new Promise((resolve) => {
          authenticated = () =>
            resolve({ method: 'jwt', subject: 's', namespace: 'default', serviceAccount: 'w' });
        }),
      sign: signer,
      clusterId: CLUSTER,
      clock,
      rateLimit: { take } as unknown as TokenBucketLimiter,
      onEvent: (e) => seen.push(e),
    });
    const controller = new AbortController();
    const answer = service.createCertificate({
      path: CREATE_CERTIFICATE_PATH,
      headers: {},
      message: Buffer.from(encodeIstioCertificateRequest({ csr: 'CSR' })),
      peer: { address: '127.0.0.1:1', socket: {} as UnaryCall['peer']['socket'] },
      signal: controller.signal,
    });
    const reason = new MeshcaError('INTERNAL', 'the call did not finish within its deadline of 1 ms');
    controller.abort(reason);
    authenticated?.();
    await expect(answer).rejects.toBe(reason);
    expect(take).not.toHaveBeenCalled();
    expect(signer).not.toHaveBeenCalled();
    expect(seen).toEqual(['csr']);
  });
});
