import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { MeshcaError } from '../../../errors/index.js';

// Written by hand: meshca needs one narrow message (an UPDATE adding or deleting one TXT record,
// signed with TSIG, RFC 2136 + RFC 8945). dns-packet, the common npm encoder, has no TSIG record
// type, and TSIG's MAC covers the wire form, so it would be half hand-written anyway; this file
// is a few hundred lines and is checked against a real BIND 9.

/** TSIG algorithms (RFC 8945 §6) by cert-manager's names. */
export const TSIG_ALGORITHMS = {
  HMACMD5: { name: 'hmac-md5.sig-alg.reg.int', hash: 'md5' },
  HMACSHA1: { name: 'hmac-sha1', hash: 'sha1' },
  HMACSHA256: { name: 'hmac-sha256', hash: 'sha256' },
  HMACSHA512: { name: 'hmac-sha512', hash: 'sha512' },
} as const;

/** A TSIG key: its name, algorithm and the base64 secret. */
export interface TsigKey {
  readonly name: string;
  readonly algorithm: keyof typeof TSIG_ALGORITHMS;
  readonly secret: Buffer;
}

/** One RFC 2136 update: add or delete one TXT record in a zone. */
export interface TxtUpdate {
  readonly zone: string;
  readonly name: string;
  readonly value: string;
  readonly action: 'add' | 'delete';
  readonly ttl?: number;
}

const TYPE_TXT = 16;
const TYPE_SOA = 6;
const TYPE_TSIG = 250;
const CLASS_IN = 1;
const CLASS_NONE = 254;
const CLASS_ANY = 255;
const OPCODE_UPDATE = 5;
const FUDGE = 300;

/** Encodes a domain name in wire format, lowercase (canonical, RFC 4034 §6.2), uncompressed. */
export function encodeName(name: string): Buffer {
  const trimmed = name.replace(/\.$/, '').toLowerCase();
  const parts: Buffer[] = [];
  if (trimmed !== '') {
    for (const label of trimmed.split('.')) {
      const bytes = Buffer.from(label, 'ascii');
      if (bytes.length === 0 || bytes.length > 63) {
        throw new MeshcaError(
          'INVALID_INPUT',
          `the DNS name ${name} has an empty label or one longer than 63 bytes`,
        );
      }
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255)
    throw new MeshcaError('INVALID_INPUT', `the DNS name ${name} is longer than 255 bytes`);
  return out;
}

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u48 = (n: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};

/** TXT RDATA: one character-string per 255 bytes (RFC 1035 §3.3.14). */
function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const part = bytes.subarray(i, i + 255);
    chunks.push(Buffer.from([part.length]), part);
    if (bytes.length === 0) break;
  }
  return Buffer.concat(chunks);
}

/** Builds an unsigned UPDATE message (RFC 2136 §2) for one TXT change. */
export function buildUpdate(update: TxtUpdate, id: number): Buffer {
  const rdata = txtRdata(update.value);
  const header = Buffer.concat([u16(id), u16(OPCODE_UPDATE << 11), u16(1), u16(0), u16(1), u16(0)]);
  const zone = Buffer.concat([encodeName(update.zone), u16(TYPE_SOA), u16(CLASS_IN)]);
  // §2.5.1 add to an RRset (class IN, the TTL); §2.5.4 delete an RR from an RRset (class NONE, TTL 0).
  const rr = Buffer.concat([
    encodeName(update.name),
    u16(TYPE_TXT),
    u16(update.action === 'add' ? CLASS_IN : CLASS_NONE),
    u32(update.action === 'add' ? (update.ttl ?? 60) : 0),
    u16(rdata.length),
    rdata,
  ]);
  return Buffer.concat([header, zone, rr]);
}

/** The TSIG variables of RFC 8945 §4.3.3 (name, class, TTL, algorithm, time, fudge, error, other). */
function tsigVariables(
  key: TsigKey,
  timeSigned: number,
  fudge = FUDGE,
  error = 0,
  other: Buffer = Buffer.alloc(0),
): Buffer {
  return Buffer.concat([
    encodeName(key.name),
    u16(CLASS_ANY),
    u32(0),
    encodeName(TSIG_ALGORITHMS[key.algorithm].name),
    u48(timeSigned),
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

/** Signs a message with TSIG (RFC 8945 §5.1): appends the TSIG RR and counts it in ARCOUNT. */
export function signMessage(
  message: Buffer,
  key: TsigKey,
  timeSigned: number,
): { signed: Buffer; mac: Buffer } {
  const mac = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret)
    .update(Buffer.concat([message, tsigVariables(key, timeSigned)]))
    .digest();
  const rdata = Buffer.concat([
    encodeName(TSIG_ALGORITHMS[key.algorithm].name),
    u48(timeSigned),
    u16(FUDGE),
    u16(mac.length),
    mac,
    message.subarray(0, 2),
    u16(0),
    u16(0),
  ]);
  const rr = Buffer.concat([
    encodeName(key.name),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    u32(0),
    u16(rdata.length),
    rdata,
  ]);
  const signed = Buffer.concat([message, rr]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

const RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};
const rcodeText = (rcode: number): string => RCODES[rcode] ?? `rcode ${rcode}`;

/** TSIG error codes (RFC 8945 §3, RFC 2930 for 19-21). */
const TSIG_ERRORS: Record<number, string> = {
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  19: 'BADMODE',
  20: 'BADNAME',
  21: 'BADALG',
  22: 'BADTRUNC',
};
const TSIG_BADSIG = 16;
const TSIG_BADKEY = 17;
const TSIG_BADTIME = 18;

const malformed = (why: string): MeshcaError =>
  new MeshcaError('UPSTREAM_REJECTED', `the DNS answer is malformed: ${why}`);

/** Reads a (possibly compressed) name: its dotted lowercase text and the offset after it. */
function readName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  let end = -1;
  for (let guard = 0; guard < 128; guard++) {
    if (at >= buf.length) throw malformed('a name runs past the end');
    const len = buf.readUInt8(at);
    if (len === 0) return { name: labels.join('.').toLowerCase(), end: end < 0 ? at + 1 : end };
    if ((len & 0xc0) === 0xc0) {
      if (at + 2 > buf.length) throw malformed('a name runs past the end');
      if (end < 0) end = at + 2;
      at = buf.readUInt16BE(at) & 0x3fff;
      continue;
    }
    if ((len & 0xc0) !== 0 || at + 1 + len > buf.length) throw malformed('a name has a bad label');
    labels.push(buf.toString('latin1', at + 1, at + 1 + len));
    at += len + 1;
  }
  throw malformed('a name has too many labels');
}

/** The fields of a TSIG RR (RFC 8945 §4.2) and where it starts. */
interface TsigRecord {
  readonly start: number;
  readonly keyName: string;
  readonly algorithm: string;
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly other: Buffer;
}

/** Walks the sections of an answer; returns its last record when that is a TSIG RR. */
function findTsig(answer: Buffer): TsigRecord | undefined {
  let at = 12;
  for (let i = 0; i < answer.readUInt16BE(4); i++) at = readName(answer, at).end + 4;
  if (at > answer.length) throw malformed('its zone section runs past the end');
  const total = answer.readUInt16BE(6) + answer.readUInt16BE(8) + answer.readUInt16BE(10);
  let last: { start: number; type: number; rdataAt: number; end: number } | undefined;
  for (let i = 0; i < total; i++) {
    const start = at;
    at = readName(answer, at).end;
    if (at + 10 > answer.length) throw malformed('a record runs past the end');
    const type = answer.readUInt16BE(at);
    const rdataAt = at + 10;
    at = rdataAt + answer.readUInt16BE(at + 8);
    if (at > answer.length) throw malformed('a record runs past the end');
    if (type === TYPE_TSIG && i !== total - 1) throw malformed('its TSIG record is not the last one');
    last = { start, type, rdataAt, end: at };
  }
  if (at !== answer.length) throw malformed(`${answer.length - at} bytes follow its last record`);
  if (last?.type !== TYPE_TSIG) return undefined;
  const ownerAt = readName(answer, last.start).end;
  if (answer.readUInt16BE(ownerAt + 2) !== CLASS_ANY || answer.readUInt32BE(ownerAt + 4) !== 0)
    throw malformed('its TSIG record is not of class ANY with TTL 0');
  const alg = readName(answer, last.rdataAt);
  let p = alg.end;
  const need = (n: number): void => {
    if (p + n > last.end) throw malformed('its TSIG record is shorter than its fields');
  };
  need(10);
  const timeSigned = answer.readUIntBE(p, 6);
  const fudge = answer.readUInt16BE(p + 6);
  const macSize = answer.readUInt16BE(p + 8);
  p += 10;
  need(macSize + 6);
  const mac = answer.subarray(p, p + macSize);
  p += macSize;
  const originalId = answer.readUInt16BE(p);
  const error = answer.readUInt16BE(p + 2);
  const otherLen = answer.readUInt16BE(p + 4);
  p += 6;
  need(otherLen);
  const other = answer.subarray(p, p + otherLen);
  if (p + otherLen !== last.end) throw malformed('its TSIG record has bytes after its fields');
  return {
    start: last.start,
    keyName: readName(answer, last.start).name,
    algorithm: alg.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    other,
  };
}

/** Whether the answer's MAC is the one the key holder computes (RFC 8945 §4.3, §5.3). */
function macVerifies(answer: Buffer, tsig: TsigRecord, key: TsigKey, requestMac: Buffer): boolean {
  const unsigned = Buffer.from(answer.subarray(0, tsig.start));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(answer.readUInt16BE(10) - 1, 10);
  const expected = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret)
    .update(
      Buffer.concat([
        u16(requestMac.length),
        requestMac,
        unsigned,
        tsigVariables(key, tsig.timeSigned, tsig.fudge, tsig.error, tsig.other),
      ]),
    )
    .digest();
  return expected.length === tsig.mac.length && timingSafeEqual(expected, tsig.mac);
}

const KEY_HINT = 'check tsigKeyName, tsigAlgorithm and the secret';

/** The failure for an answer whose TSIG error is not 0 (RFC 8945 §5.2, §5.3.2). */
function tsigErrorFailure(
  answer: Buffer,
  rcode: number,
  tsig: TsigRecord,
  key: TsigKey,
  requestMac: Buffer,
): MeshcaError {
  const name = TSIG_ERRORS[tsig.error] ?? `error ${tsig.error}`;
  const head =
    rcode === 0
      ? `the DNS answer carries TSIG error ${name} with RCODE NOERROR, so the update is not taken as done`
      : `the DNS server refused the update: ${rcodeText(rcode)} (TSIG ${name})`;
  let how: string;
  if (tsig.mac.length === 0) {
    // §5.3.2: errors about the key or the MAC of the request come back unsigned.
    how =
      tsig.error === TSIG_BADSIG || tsig.error === TSIG_BADKEY
        ? 'the answer is unsigned, as RFC 8945 allows for this error'
        : 'the answer is unsigned, though RFC 8945 wants this error signed';
  } else if (!macVerifies(answer, tsig, key, requestMac)) {
    how = 'the MAC of the answer does not verify, so it may not come from the server';
  } else if (tsig.error === TSIG_BADTIME && tsig.other.length === 6) {
    how =
      `the server's clock reads ${new Date(tsig.other.readUIntBE(0, 6) * 1000).toISOString()}, ` +
      `the update was signed at ${new Date(tsig.timeSigned * 1000).toISOString()}`;
  } else {
    how = 'the answer is signed';
  }
  return new MeshcaError('UPSTREAM_REJECTED', `${head}; ${how}`, {
    hint:
      tsig.error === TSIG_BADTIME
        ? `check the clocks of meshca and the DNS server agree within ${FUDGE} s`
        : KEY_HINT,
  });
}

/**
 * Checks an answer to our update: its ID, that it is an UPDATE response, its RCODE, and, when the
 * request was signed, its TSIG (RFC 8945 §5.3): it must carry a TSIG RR of our key whose MAC
 * verifies over the request MAC, the answer without its TSIG and the TSIG variables. A TSIG error
 * other than 0 is always a failure, signed or not; an unsigned answer is never a success.
 */
export function checkAnswer(
  answer: Buffer,
  id: number,
  key: TsigKey | undefined,
  requestMac: Buffer | undefined,
): void {
  if (answer.length < 12)
    throw new MeshcaError(
      'UPSTREAM_REJECTED',
      `the DNS answer is ${answer.length} bytes, shorter than a header`,
    );
  if (answer.readUInt16BE(0) !== id)
    throw new MeshcaError('UPSTREAM_REJECTED', 'the DNS answer has another message ID');
  const flags = answer.readUInt16BE(2);
  if ((flags & 0x8000) === 0 || ((flags >> 11) & 0xf) !== OPCODE_UPDATE) {
    throw new MeshcaError('UPSTREAM_REJECTED', 'the DNS answer is not a response to an UPDATE');
  }
  const rcode = flags & 0xf;
  if (key !== undefined && requestMac !== undefined) {
    const tsig = findTsig(answer);
    if (tsig === undefined) {
      // Also a server that cannot read our TSIG answers FORMERR unsigned (§5.2): a failure either way.
      throw new MeshcaError('UPSTREAM_REJECTED', `the DNS answer (${rcodeText(rcode)}) is not TSIG-signed`, {
        hint: 'check tsigKeyName and tsigAlgorithm match the server key',
      });
    }
    const ourName = key.name.replace(/\.$/, '').toLowerCase();
    const ourAlg = TSIG_ALGORITHMS[key.algorithm].name;
    if (tsig.keyName !== ourName || tsig.algorithm !== ourAlg) {
      throw new MeshcaError(
        'UPSTREAM_REJECTED',
        `the DNS answer is signed with the key ${tsig.keyName} (${tsig.algorithm}), not ${ourName} (${ourAlg})`,
        { hint: KEY_HINT },
      );
    }
    if (tsig.error !== 0) throw tsigErrorFailure(answer, rcode, tsig, key, requestMac);
    if (tsig.mac.length === 0) {
      throw new MeshcaError(
        'UPSTREAM_REJECTED',
        `the DNS answer (${rcodeText(rcode)}) has a TSIG with an empty MAC and no TSIG error: it is not authenticated`,
        { hint: KEY_HINT },
      );
    }
    if (!macVerifies(answer, tsig, key, requestMac)) {
      throw new MeshcaError(
        'UPSTREAM_REJECTED',
        'the DNS answer TSIG does not verify: it did not come from the key holder',
      );
    }
  }
  if (rcode !== 0) {
    throw new MeshcaError('UPSTREAM_REJECTED', `the DNS server refused the update: ${rcodeText(rcode)}`, {
      hint: rcode === 9 ? KEY_HINT : 'check the zone allows updates for this key',
    });
  }
}

/** Where and how to send updates. */
export interface DnsUpdateTarget {
  /** `host:port` or `[v6]:port`; port 53 when left out. */
  readonly nameserver: string;
  readonly protocol?: 'UDP' | 'TCP';
  readonly key?: TsigKey;
  /**
   * The deadline of the whole exchange (connecting, sending, the complete answer), 10 s when left
   * out: a server that answers slowly or trickles bytes cannot hold a reconcile slot longer.
   */
  readonly timeoutMs?: number;
}

function hostPort(nameserver: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(nameserver) ?? /^([^:\]]+)(?::(\d+))?$/.exec(nameserver);
  if (m?.[1] === undefined) {
    throw new MeshcaError(
      'ISSUER_INVALID',
      `rfc2136 nameserver "${nameserver}" is not host, host:port or [v6]:port`,
    );
  }
  return { host: m[1], port: m[2] === undefined ? 53 : Number(m[2]) };
}

/** Sends one TXT update (RFC 2136) signed with TSIG and checks the answer; `now` is the TSIG time. */
export async function sendTxtUpdate(target: DnsUpdateTarget, update: TxtUpdate, now: Date): Promise<void> {
  const id = randomInt(0x10000);
  const message = buildUpdate(update, id);
  const signed =
    target.key === undefined
      ? { signed: message, mac: undefined }
      : signMessage(message, target.key, Math.floor(now.getTime() / 1000));
  const { host, port } = hostPort(target.nameserver);
  const timeoutMs = target.timeoutMs ?? 10_000;
  const answer = await (target.protocol === 'TCP'
    ? overTcp(host, port, signed.signed, timeoutMs)
    : overUdp(host, port, signed.signed, timeoutMs));
  try {
    checkAnswer(answer, id, target.key, signed.mac);
  } catch (err) {
    if (err instanceof MeshcaError) throw err;
    // A truncated or lying answer makes a read run past the end.
    throw new MeshcaError(
      'UPSTREAM_REJECTED',
      `the DNS answer from ${host}:${port} is malformed: ${(err as Error).message}`,
    );
  }
}

const unreachable = (host: string, port: number, why: string): MeshcaError =>
  new MeshcaError('UPSTREAM_UNAVAILABLE', `no answer from the DNS server ${host}:${port}: ${why}`, {
    hint: 'check rfc2136.nameserver; meshca retries',
  });

/**
 * Sends over a connected UDP socket, so the kernel drops datagrams from any other address or port;
 * the source of each datagram is checked again here. Settles by the deadline at the latest.
 */
function overUdp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(deadline);
      socket.close();
      return true;
    };
    const fail = (err: MeshcaError): void => {
      if (settle()) reject(err);
    };
    const succeed = (answer: Buffer): void => {
      if (settle()) resolve(answer);
    };
    const deadline = setTimeout(
      () => fail(unreachable(host, port, `no answer within ${timeoutMs} ms over UDP`)),
      timeoutMs,
    );
    socket.on('error', (err) => fail(unreachable(host, port, err.message)));
    socket.on('message', (msg, rinfo) => {
      let remote: { address: string; port: number };
      try {
        remote = socket.remoteAddress();
      } catch {
        return; // not connected yet: not an answer to us
      }
      if (rinfo.address !== remote.address || rinfo.port !== remote.port) return;
      succeed(msg);
    });
    socket.connect(port, host, (err?: Error) => {
      if (err !== undefined) return fail(unreachable(host, port, err.message));
      socket.send(message, (sendErr) => {
        if (sendErr !== null) fail(unreachable(host, port, sendErr.message));
      });
    });
  });
}

/**
 * Sends over TCP (RFC 1035 §4.2.2: a 2-byte length, then the message). Settles when the answer is
 * complete, when the server closes the connection or fails, or at the deadline, whichever comes
 * first.
 */
function overTcp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      return true;
    };
    const fail = (err: MeshcaError): void => {
      if (settle()) reject(err);
    };
    const succeed = (answer: Buffer): void => {
      if (settle()) resolve(answer);
    };
    const received = (): string =>
      data.length < 2
        ? `${data.length} answer byte${data.length === 1 ? '' : 's'}`
        : `${data.length - 2} of ${data.readUInt16BE(0)} answer bytes`;
    const deadline = setTimeout(
      () =>
        fail(
          unreachable(host, port, `no complete answer within ${timeoutMs} ms over TCP (got ${received()})`),
        ),
      timeoutMs,
    );
    const closed = (): void =>
      fail(unreachable(host, port, `the nameserver closed the TCP connection after ${received()}`));
    socket.on('error', (err) => fail(unreachable(host, port, err.message)));
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('connect', () => socket.write(Buffer.concat([u16(message.length), message])));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        succeed(data.subarray(2, 2 + data.readUInt16BE(0)));
      }
    });
  });
}
