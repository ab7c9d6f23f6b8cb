import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HeaderField } from '../http2/h2-connection.js';
import { Flag, FrameType, H2Error, frame, rstStreamFrame } from '../http2/h2-frames.js';
import { encodeHeaderBlock } from '../http2/hpack.js';
import { RawH2Client, type Seen } from '../http2/testing/raw-h2-client.js';
import { makeTestTls, type TestTls } from '../testing/test-tls.js';
import { createGrpcServer, DEFAULT_GRPC_LIMITS, h2LimitsOf, type GrpcServer, type UnaryCall } from './grpc-server.js';
import { GrpcStatus } from './grpc-status.js';

// The gRPC layer driven frame by frame: deadlines and cancellations that a gRPC client library
// would not send back to back, against a handler that runs until the test lets it finish.

const PATH = '/test.Blocking/Call';
const MAX_STREAMS = 3;

/** A handler call the test has not let finish yet. */
interface Running {
  readonly call: UnaryCall;
  readonly finish: () => void;
}

interface Harness {
  readonly port: number;
  /** Every call the handler took, in order; a call leaves it when the test finishes it. */
  readonly running: Running[];
  /** How many handler calls were started in all. */
  started: number;
  /** How many handler calls have returned. */
  settled: number;
  readonly errors: { message: string; context: string }[];
  readonly malformed: string[];
  connect(): Promise<RawH2Client>;
}

let material: TestTls;
const servers: GrpcServer[] = [];
const clients: RawH2Client[] = [];

beforeAll(() => {
  material = makeTestTls();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A gRPC server whose one method echoes its message, or blocks until finished for "block". */
async function start(): Promise<Harness> {
  const limits = { ...DEFAULT_GRPC_LIMITS, maxConcurrentStreams: MAX_STREAMS };
  // What the gRPC server announces in its SETTINGS.
  const h2Limits = h2LimitsOf(limits);
  const server = createGrpcServer({
    tls: { key: material.serverKey, cert: material.serverCert },
    limits,
    methods: {
      [PATH]: async (call) => {
        h.started++;
        try {
          if (call.message.toString() === 'block') {
            await new Promise<void>((resolve) => h.running.push({ call, finish: resolve }));
          }
          return call.message;
        } finally {
          h.settled++;
        }
      },
    },
    onError: (err, context) => h.errors.push({ message: (err as Error).message, context }),
    onMalformedRequest: (reason) => h.malformed.push(reason),
  });
  const { port } = await server.listen(0);
  servers.push(server);
  const h: Harness = {
    port,
    running: [],
    started: 0,
    settled: 0,
    errors: [],
    malformed: [],
    connect: () =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: material.caCert, ALPNProtocols: ['h2'] });
        const client = new RawH2Client(socket, h2Limits);
        clients.push(client);
        socket.once('secureConnect', () => {
          client
            .handshake()
            .then(() => resolve(client))
            .catch(reject);
        });
        socket.once('error', reject);
      }),
  };
  return h;
}

/** A whole unary call in one write: HEADERS, then the message in a DATA frame with END_STREAM. */
function call(stream: number, message: string, extra: HeaderField[] = []): Buffer {
  const fields: HeaderField[] = [
    [':method', 'POST'],
    [':scheme', 'https'],
    [':path', PATH],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ...extra,
  ];
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  body.write(message, 5, 'latin1');
  return Buffer.concat([
    frame(FrameType.HEADERS, Flag.END_HEADERS, stream, encodeHeaderBlock(fields)),
    frame(FrameType.DATA, Flag.END_STREAM, stream, body),
  ]);
}

/** The trailers-only answer of a call that passed its deadline. */
function deadlineExceeded(stream: number): Seen {
  return {
    frame: 'HEADERS',
    stream,
    end: true,
    fields: [
      [':status', '200'],
      ['content-type', 'application/grpc+proto'],
      ['grpc-accept-encoding', 'identity'],
      ['grpc-status', String(GrpcStatus.DEADLINE_EXCEEDED)],
      ['grpc-message', expect.stringMatching(/^the call did not finish within its deadline of /) as string],
    ],
  };
}

const refused = (stream: number): Seen => ({ frame: 'RST_STREAM', stream, code: H2Error.REFUSED_STREAM });

/** The answer of a call the echo method served. */
function served(stream: number, message: string): Seen[] {
  return [
    {
      frame: 'HEADERS',
      stream,
      end: false,
      fields: [
        [':status', '200'],
        ['content-type', 'application/grpc+proto'],
        ['grpc-accept-encoding', 'identity'],
      ],
    },
    { frame: 'DATA', stream, end: false, data: `\0\0\0\0${String.fromCharCode(message.length)}${message}` },
    { frame: 'HEADERS', stream, end: true, fields: [['grpc-status', '0']] },
  ];
}

describe('gRPC server: a call keeps its stream slot until its handler has returned', () => {
  it('refuses a new stream while the handlers of calls answered at their deadline (grpc-timeout 1n) still run', async () => {
    const h = await start();
    const c = await h.connect();
    const ids = Array.from({ length: MAX_STREAMS }, (_, i) => 1 + 2 * i);
    c.send(...ids.map((id) => call(id, 'block', [['grpc-timeout', '1n']])));
    // Every call is answered on time, though its handler is still at work.
    expect(await c.take(MAX_STREAMS)).toEqual(ids.map(deadlineExceeded));
    expect(await c.barrier()).toEqual([]);
    expect(h.running).toHaveLength(MAX_STREAMS);
    expect(h.settled).toBe(0);
    // The handlers were told: their signals are aborted.
    for (const r of h.running) expect(r.call.signal.aborted).toBe(true);

    // The (N+1)th call, with a deadline as tiny, finds no free slot: nothing more runs.
    const next = 1 + 2 * MAX_STREAMS;
    c.send(call(next, 'block', [['grpc-timeout', '1n']]), call(next + 2, 'block'));
    expect(await c.barrier()).toEqual([refused(next), refused(next + 2)]);
    expect(h.started).toBe(MAX_STREAMS);

    // A handler that returns frees its slot; its stream, answered already, sends nothing more.
    h.running.shift()!.finish();
    await vi.waitFor(() => expect(h.settled).toBe(1));
    c.send(call(next + 4, 'hello'));
    expect(await c.untilStreamEnd(next + 4)).toEqual(served(next + 4, 'hello'));
    c.send(call(next + 6, 'block'), call(next + 8, 'block'));
    expect(await c.barrier()).toEqual([refused(next + 8)]);
    expect(h.running).toHaveLength(MAX_STREAMS);
    expect(h.errors).toEqual([]);
  });

  it('refuses a new stream while the handlers of calls the client reset (RST_STREAM) still run', async () => {
    const h = await start();
    const c = await h.connect();
    const ids = Array.from({ length: MAX_STREAMS }, (_, i) => 1 + 2 * i);
    c.send(...ids.flatMap((id) => [call(id, 'block'), rstStreamFrame(id, H2Error.CANCEL)]));
    expect(await c.barrier()).toEqual([]);
    expect(h.running).toHaveLength(MAX_STREAMS);
    for (const r of h.running) expect(r.call.signal.aborted).toBe(true);

    const next = 1 + 2 * MAX_STREAMS;
    c.send(call(next, 'block'), rstStreamFrame(next, H2Error.CANCEL));
    expect(await c.barrier()).toEqual([refused(next)]);
    expect(h.started).toBe(MAX_STREAMS);

    // When the handlers return, their slots come back and the reset streams send nothing.
    for (const r of h.running.splice(0)) r.finish();
    await vi.waitFor(() => expect(h.settled).toBe(MAX_STREAMS));
    c.send(call(next + 2, 'hello'));
    expect(await c.untilStreamEnd(next + 2)).toEqual(served(next + 2, 'hello'));
    expect(h.errors).toEqual([]);
  });
});

describe('gRPC server: malformed HTTP/2 requests', () => {
  it('counts each through onMalformedRequest and logs only the first of a connection', async () => {
    const h = await start();
    const c = await h.connect();
    const n = 50;
    c.send(
      ...Array.from({ length: n }, (_, i) =>
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          1 + 2 * i,
          encodeHeaderBlock([
            [':method', 'POST'],
            [':scheme', 'https'],
            [':PATH', PATH],
          ]),
        ),
      ),
    );
    expect(await c.barrier()).toEqual(
      Array.from({ length: n }, (_, i) => ({
        frame: 'RST_STREAM',
        stream: 1 + 2 * i,
        code: H2Error.PROTOCOL_ERROR,
      })),
    );
    expect(h.malformed).toHaveLength(n);
    expect(h.errors.map((e) => e.context)).toEqual(['http2 request']);
    expect(h.started).toBe(0);
  });
});
