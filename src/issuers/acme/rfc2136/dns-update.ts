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
function tsigVariables(key: TsigKey, timeSigned: number): Buffer {
  return Buffer.concat([
    encodeName(key.name),
    u16(CLASS_ANY),
    u32(0),
    encodeName(TSIG_ALGORITHMS[key.algorithm].name),
    u48(timeSigned),
    u16(FUDGE),
    u16(0),
    u16(0),
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

/** Skips a (possibly compressed) name; returns the offset after it. */
function skipName(buf: Buffer, offset: number): number {
  let at = offset;
  for (let guard = 0; guard < 128; guard++) {
    const len = buf.readUInt8(at);
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2;
    at += len + 1;
  }
  throw new MeshcaError('UPSTREAM_REJECTED', 'the DNS answer has a name with too many labels');
}

/**
 * Checks an answer to our update: its ID, that it is an UPDATE response, its RCODE, and its
 * TSIG (RFC 8945 §5.3: MAC over the request MAC, the answer without its TSIG, the variables).
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
  let tsigError = 0;
  if (key !== undefined && requestMac !== undefined) {
    const arcount = answer.readUInt16BE(10);
    // Walk to the last additional record: it must be the TSIG.
    let at = 12;
    const counts = [answer.readUInt16BE(4), answer.readUInt16BE(6), answer.readUInt16BE(8), arcount];
    at = skipName(answer, at) + 4; // zone section: one entry (name, type, class)
    if ((counts[0] ?? 0) !== 1) at = 12;
    let tsigStart = -1;
    const total = (counts[1] ?? 0) + (counts[2] ?? 0) + arcount;
    for (let i = 0; i < total; i++) {
      const start = at;
      at = skipName(answer, at);
      const type = answer.readUInt16BE(at);
      const rdlen = answer.readUInt16BE(at + 8);
      if (i === total - 1 && type === TYPE_TSIG) tsigStart = start;
      at += 10 + rdlen;
    }
    if (tsigStart < 0) {
      throw new MeshcaError(
        'UPSTREAM_REJECTED',
        `the DNS answer (${RCODES[rcode] ?? `rcode ${rcode}`}) is not TSIG-signed`,
        {
          hint: 'check tsigKeyName and tsigAlgorithm match the server key',
        },
      );
    }
    const rdataAt = skipName(answer, tsigStart) + 10;
    const algEnd = skipName(answer, rdataAt);
    const timeSigned = answer.readUIntBE(algEnd, 6);
    const macSize = answer.readUInt16BE(algEnd + 8);
    const mac = answer.subarray(algEnd + 10, algEnd + 10 + macSize);
    tsigError = answer.readUInt16BE(algEnd + 10 + macSize + 2);
    if (tsigError === 0) {
      const unsigned = Buffer.from(answer.subarray(0, tsigStart));
      unsigned.writeUInt16BE(arcount - 1, 10);
      const expected = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret)
        .update(Buffer.concat([u16(requestMac.length), requestMac, unsigned, tsigVariables(key, timeSigned)]))
        .digest();
      if (expected.length !== mac.length || !timingSafeEqual(expected, mac)) {
        throw new MeshcaError(
          'UPSTREAM_REJECTED',
          'the DNS answer TSIG does not verify: it did not come from the key holder',
        );
      }
    }
  }
  if (rcode !== 0) {
    const tsigText = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME' }[tsigError];
    throw new MeshcaError(
      'UPSTREAM_REJECTED',
      `the DNS server refused the update: ${RCODES[rcode] ?? `rcode ${rcode}`}${tsigText === undefined ? '' : ` (TSIG ${tsigText})`}`,
      {
        hint:
          rcode === 9 || tsigText !== undefined
            ? 'check tsigKeyName, tsigAlgorithm and the secret'
            : 'check the zone allows updates for this key',
      },
    );
  }
}

/** Where and how to send updates. */
export interface DnsUpdateTarget {
  /** `host:port` or `[v6]:port`; port 53 when left out. */
  readonly nameserver: string;
  readonly protocol?: 'UDP' | 'TCP';
  readonly key?: TsigKey;
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

function overUdp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(unreachable(host, port, `timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(unreachable(host, port, err.message));
    });
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(message, port, host);
  });
}

function overTcp(host: string, port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = Buffer.alloc(0);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(unreachable(host, port, `timed out after ${timeoutMs} ms`));
    });
    socket.on('error', (err) => reject(unreachable(host, port, err.message)));
    socket.on('connect', () => socket.write(Buffer.concat([u16(message.length), message])));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        socket.end();
        resolve(data.subarray(2, 2 + data.readUInt16BE(0)));
      }
    });
  });
}
