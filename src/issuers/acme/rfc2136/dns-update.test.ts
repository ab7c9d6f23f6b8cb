import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshcaError } from '../../../errors/index.js';
import {
  TSIG_ALGORITHMS,
  buildUpdate,
  checkAnswer,
  encodeName,
  sendTxtUpdate,
  signMessage,
  type TsigKey,
  type TxtUpdate,
} from './dns-update.js';

// The answers here are built by a small server-side signer written from RFC 8945 §4.3 and §5.3,
// separately from the client code; test/integration/acme/bind-dns01.test.ts checks the client
// against a real BIND 9.

const KEY: TsigKey = { name: 'meshca-update', algorithm: 'HMACSHA256', secret: randomBytes(32) };
const UPDATE: TxtUpdate = {
  zone: 'example.test',
  name: '_acme-challenge.example.test',
  value: 'v',
  action: 'add',
};
const NOW = new Date('2030-01-01T00:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u48 = (n: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};

/** An UPDATE response to `id` echoing the zone section, without TSIG. */
function unsignedAnswer(id: number, rcode: number): Buffer {
  const header = Buffer.concat([u16(id), u16(0x8000 | (5 << 11) | rcode), u16(1), u16(0), u16(0), u16(0)]);
  return Buffer.concat([header, encodeName(UPDATE.zone), u16(6), u16(1)]);
}

interface TsigOptions {
  readonly error?: number;
  readonly other?: Buffer;
  /** 'valid' computes the MAC, 'empty' sends MAC size 0, a Buffer is sent as it is. */
  readonly mac?: 'valid' | 'empty' | Buffer;
  readonly key?: TsigKey;
  readonly time?: number;
}

/** Appends a TSIG RR the way a server does (RFC 8945 §5.3): the MAC covers the request MAC first. */
function signAnswer(message: Buffer, requestMac: Buffer, o: TsigOptions = {}): Buffer {
  const key = o.key ?? KEY;
  const alg = encodeName(TSIG_ALGORITHMS[key.algorithm].name);
  const error = o.error ?? 0;
  const other = o.other ?? Buffer.alloc(0);
  const time = o.time ?? T;
  const variables = Buffer.concat([
    encodeName(key.name),
    u16(255),
    Buffer.alloc(4),
    alg,
    u48(time),
    u16(300),
    u16(error),
    u16(other.length),
    other,
  ]);
  const mac =
    o.mac === undefined || o.mac === 'valid'
      ? createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret)
          .update(Buffer.concat([u16(requestMac.length), requestMac, message, variables]))
          .digest()
      : o.mac === 'empty'
        ? Buffer.alloc(0)
        : o.mac;
  const rdata = Buffer.concat([
    alg,
    u48(time),
    u16(300),
    u16(mac.length),
    mac,
    message.subarray(0, 2),
    u16(error),
    u16(other.length),
    other,
  ]);
  const rr = Buffer.concat([
    encodeName(key.name),
    u16(250),
    u16(255),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
  const out = Buffer.concat([message, rr]);
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return out;
}

/** The request MAC in a signed request: the TSIG RR is last, after the zone and the one update RR. */
function requestMacOf(request: Buffer): Buffer {
  const skipName = (at: number): number => {
    while (request[at] !== 0) at += (request[at] ?? 0) + 1;
    return at + 1;
  };
  let at = skipName(12) + 4; // zone
  at = skipName(at);
  at += 10 + request.readUInt16BE(at + 8); // the update RR
  at = skipName(at) + 10; // the TSIG owner, type, class, TTL, RDLENGTH
  at = skipName(at) + 8; // algorithm, time, fudge
  return request.subarray(at + 2, at + 2 + request.readUInt16BE(at));
}

/** A correctly signed NOERROR answer to a request. */
const goodAnswer = (request: Buffer): Buffer =>
  signAnswer(unsignedAnswer(request.readUInt16BE(0), 0), requestMacOf(request));

const ID = 0x4d2;
const signedRequest = signMessage(buildUpdate(UPDATE, ID), KEY, T);

const rejection = (f: () => void): MeshcaError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MeshcaError);
    return err as MeshcaError;
  }
  throw new Error('the answer was accepted');
};
const check = (answer: Buffer): MeshcaError =>
  rejection(() => checkAnswer(answer, ID, KEY, signedRequest.mac));

describe('checkAnswer on an answer to a TSIG-signed update (RFC 8945 §5.3)', () => {
  it('accepts a NOERROR answer whose MAC verifies', () => {
    expect(() =>
      checkAnswer(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac), ID, KEY, signedRequest.mac),
    ).not.toThrow();
  });

  it('refuses RCODE NOERROR with TSIG error BADSIG and a made-up MAC', () => {
    const err = check(
      signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { error: 16, mac: randomBytes(32) }),
    );
    expect(err.code).toBe('UPSTREAM_REJECTED');
    expect(err.message).toBe(
      'the DNS answer carries TSIG error BADSIG with RCODE NOERROR, so the update is not taken as done; ' +
        'the MAC of the answer does not verify, so it may not come from the server',
    );
  });

  it('refuses RCODE NOERROR with TSIG error BADSIG even when the MAC is empty', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { error: 16, mac: 'empty' }));
    expect(err.message).toMatch(/^the DNS answer carries TSIG error BADSIG with RCODE NOERROR/);
  });

  it('refuses RCODE NOERROR with TSIG error BADKEY', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { error: 17, mac: 'empty' }));
    expect(err.message).toBe(
      'the DNS answer carries TSIG error BADKEY with RCODE NOERROR, so the update is not taken as done; ' +
        'the answer is unsigned, as RFC 8945 allows for this error',
    );
  });

  it('refuses RCODE NOERROR with TSIG error BADTIME, even correctly signed, naming both clocks', () => {
    const err = check(
      signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { error: 18, other: u48(T + 3600) }),
    );
    expect(err.message).toBe(
      'the DNS answer carries TSIG error BADTIME with RCODE NOERROR, so the update is not taken as done; ' +
        "the server's clock reads 2030-01-01T01:00:00.000Z, the update was signed at 2030-01-01T00:00:00.000Z",
    );
    expect(err.hint).toMatch(/clocks/);
  });

  it('refuses RCODE NOERROR with TSIG error BADTRUNC, even correctly signed', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { error: 22 }));
    expect(err.message).toBe(
      'the DNS answer carries TSIG error BADTRUNC with RCODE NOERROR, so the update is not taken as done; ' +
        'the answer is signed',
    );
  });

  it('refuses the unsigned NOTAUTH/BADSIG answer a server sends for a wrong secret, saying it is unsigned', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 9), signedRequest.mac, { error: 16, mac: 'empty' }));
    expect(err.message).toBe(
      'the DNS server refused the update: NOTAUTH (TSIG BADSIG); the answer is unsigned, as RFC 8945 allows for this error',
    );
    expect(err.hint).toBe('check tsigKeyName, tsigAlgorithm and the secret');
  });

  it('refuses an unsigned BADTIME answer, which RFC 8945 wants signed', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 9), signedRequest.mac, { error: 18, mac: 'empty' }));
    expect(err.message).toBe(
      'the DNS server refused the update: NOTAUTH (TSIG BADTIME); the answer is unsigned, though RFC 8945 wants this error signed',
    );
  });

  it('refuses RCODE NOERROR with TSIG error 0 and an empty MAC', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { mac: 'empty' }));
    expect(err.message).toBe(
      'the DNS answer (NOERROR) has a TSIG with an empty MAC and no TSIG error: it is not authenticated',
    );
  });

  it('refuses RCODE NOERROR with a MAC that does not verify', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { mac: randomBytes(32) }));
    expect(err.message).toBe('the DNS answer TSIG does not verify: it did not come from the key holder');
  });

  it('refuses an answer signed over another request MAC (a replayed answer)', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 0), randomBytes(32)));
    expect(err.message).toBe('the DNS answer TSIG does not verify: it did not come from the key holder');
  });

  it('refuses an answer signed with another key', () => {
    const other: TsigKey = { name: 'other-key', algorithm: 'HMACSHA256', secret: KEY.secret };
    const err = check(signAnswer(unsignedAnswer(ID, 0), signedRequest.mac, { key: other }));
    expect(err.message).toBe(
      'the DNS answer is signed with the key other-key (hmac-sha256), not meshca-update (hmac-sha256)',
    );
  });

  it('refuses a NOERROR answer without TSIG', () => {
    expect(check(unsignedAnswer(ID, 0)).message).toBe('the DNS answer (NOERROR) is not TSIG-signed');
  });

  it('refuses an answer with bytes after its TSIG record (not covered by the MAC)', () => {
    const answer = Buffer.concat([signAnswer(unsignedAnswer(ID, 0), signedRequest.mac), Buffer.from([1, 2])]);
    expect(check(answer).message).toBe('the DNS answer is malformed: 2 bytes follow its last record');
  });

  it('still reports a signed refusal by its RCODE', () => {
    const err = check(signAnswer(unsignedAnswer(ID, 5), signedRequest.mac));
    expect(err.message).toBe('the DNS server refused the update: REFUSED');
  });
});

// ---- over the network -------------------------------------------------------------------------

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function udpServer(
  onMessage: (server: UdpSocket, msg: Buffer, port: number) => void,
): Promise<UdpSocket> {
  const server = createSocket('udp4');
  server.on('message', (msg, rinfo) => onMessage(server, msg, rinfo.port));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  return server;
}

async function tcpServer(
  onRequest: (socket: Socket, request: Buffer) => void,
  onConnection?: (socket: Socket) => void,
): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (onConnection !== undefined) return onConnection(socket);
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        onRequest(socket, data.subarray(2, 2 + data.readUInt16BE(0)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return server;
}

const portOf = (server: Server | UdpSocket): number => {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return a.port;
};

/** How a promise settles within `ms`: the old code left some of these pending forever. */
async function within(
  p: Promise<unknown>,
  ms: number,
): Promise<{ status: 'resolved' } | { status: 'rejected'; error: MeshcaError } | { status: 'pending' }> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<{ status: 'pending' }>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'pending' }), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => ({ status: 'resolved' as const }),
        (error: unknown) => ({ status: 'rejected' as const, error: error as MeshcaError }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const tcpTarget = (port: number, timeoutMs = 20_000) => ({
  nameserver: `127.0.0.1:${port}`,
  protocol: 'TCP' as const,
  key: KEY,
  timeoutMs,
});

describe('sendTxtUpdate over TCP', () => {
  it('accepts a signed answer sent in two pieces', async () => {
    const server = await tcpServer((socket, request) => {
      const answer = goodAnswer(request);
      const framed = Buffer.concat([u16(answer.length), answer]);
      socket.write(framed.subarray(0, 5));
      setTimeout(() => socket.write(framed.subarray(5)), 20);
    });
    await expect(sendTxtUpdate(tcpTarget(portOf(server)), UPDATE, NOW)).resolves.toBeUndefined();
  });

  it('fails, retryably, when the server accepts the connection and closes it without answering', async () => {
    const server = await tcpServer(
      () => undefined,
      (socket) => socket.end(),
    );
    const r = await within(sendTxtUpdate(tcpTarget(portOf(server)), UPDATE, NOW), 3000);
    expect(r.status).toBe('rejected');
    if (r.status !== 'rejected') return;
    expect(r.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.error.retryable).toBe(true);
    expect(r.error.message).toBe(
      `no answer from the DNS server 127.0.0.1:${portOf(server)}: the nameserver closed the TCP connection after 0 answer bytes`,
    );
  });

  it('fails, retryably, when the server sends half an answer and closes', async () => {
    let length = 0;
    const server = await tcpServer((socket, request) => {
      const answer = goodAnswer(request);
      length = answer.length;
      socket.end(Buffer.concat([u16(answer.length), answer.subarray(0, 20)]));
    });
    const r = await within(sendTxtUpdate(tcpTarget(portOf(server)), UPDATE, NOW), 3000);
    expect(r.status).toBe('rejected');
    if (r.status !== 'rejected') return;
    expect(r.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.error.message).toBe(
      `no answer from the DNS server 127.0.0.1:${portOf(server)}: the nameserver closed the TCP connection after 20 of ${length} answer bytes`,
    );
  });

  it('gives up at the deadline when the server trickles bytes', async () => {
    const server = await tcpServer((socket) => {
      socket.write(u16(100));
      const timer = setInterval(() => socket.write(Buffer.from([0])), 50);
      socket.on('close', () => clearInterval(timer));
      cleanups.push(() => clearInterval(timer));
    });
    const started = Date.now();
    const r = await within(sendTxtUpdate(tcpTarget(portOf(server), 400), UPDATE, NOW), 3000);
    expect(r.status).toBe('rejected');
    if (r.status !== 'rejected') return;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.error.message).toMatch(
      /^no answer from the DNS server 127\.0\.0\.1:\d+: no complete answer within 400 ms over TCP \(got \d+ of 100 answer bytes\)$/,
    );
  });
});

describe('sendTxtUpdate over UDP', () => {
  it('ignores a datagram from another port and accepts the real answer that follows', async () => {
    const intruder = createSocket('udp4');
    await new Promise<void>((resolve) => intruder.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => intruder.close());
    let forgedSent = false;
    const server = await udpServer((s, request, clientPort) => {
      // The intruder answers first, with a refusal (it holds no key, so it cannot sign).
      const forged = unsignedAnswer(request.readUInt16BE(0), 5);
      intruder.send(forged, clientPort, '127.0.0.1', () => {
        forgedSent = true;
        setTimeout(() => s.send(goodAnswer(request), clientPort, '127.0.0.1'), 50);
      });
    });
    const r = await within(
      sendTxtUpdate({ nameserver: `127.0.0.1:${portOf(server)}`, key: KEY, timeoutMs: 2000 }, UPDATE, NOW),
      3000,
    );
    expect(forgedSent).toBe(true);
    expect(r).toEqual({ status: 'resolved' });
  });

  it('refuses a forged NOERROR answer carrying TSIG error BADSIG', async () => {
    const server = await udpServer((s, request, clientPort) => {
      const forged = signAnswer(unsignedAnswer(request.readUInt16BE(0), 0), requestMacOf(request), {
        error: 16,
        mac: randomBytes(32),
      });
      s.send(forged, clientPort, '127.0.0.1');
    });
    await expect(
      sendTxtUpdate({ nameserver: `127.0.0.1:${portOf(server)}`, key: KEY, timeoutMs: 2000 }, UPDATE, NOW),
    ).rejects.toThrow(/TSIG error BADSIG with RCODE NOERROR/);
  });

  it('gives up at the deadline when no answer comes', async () => {
    const server = await udpServer(() => undefined);
    const r = await within(
      sendTxtUpdate({ nameserver: `127.0.0.1:${portOf(server)}`, key: KEY, timeoutMs: 200 }, UPDATE, NOW),
      3000,
    );
    expect(r.status).toBe('rejected');
    if (r.status !== 'rejected') return;
    expect(r.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(r.error.message).toBe(
      `no answer from the DNS server 127.0.0.1:${portOf(server)}: no answer within 200 ms over UDP`,
    );
  });
});
