/**
 * HPACK benchmark: meshca's decoder (src/ca-server/http2/hpack.ts) against the hpack.js npm
 * package, measured one after the other in this run on the same blocks. Prints decodes/s of a
 * typical gRPC request block (first on a connection: Huffman literals with a ~1 KiB JWT; repeated:
 * all dynamic-table references), Huffman decode MB/s, and response encodes/s, each with the ratio.
 *   node --import tsx bench/hpack/run.ts [seconds per case=1]
 */
import { HpackDecoder, encodeHeaderBlock } from '../../src/ca-server/http2/hpack.js';
import { huffmanDecode, huffmanEncode } from '../../src/ca-server/http2/hpack-huffman.js';
import { hpackJs, type HpackJs } from '../../src/ca-server/http2/testing/hpack-js.js';
import { istioAgentRequestFields } from '../../src/ca-server/http2/testing/istio-agent-request.js';

const seconds = Number(process.argv[2] ?? 1);
const LIMIT = 65536;

// What an Istio agent (grpc-go) sends: a projected service-account JWT of ~1 KiB.
const JWT = `eyJhbGciOiJSUzI1NiIsImtpZCI6Ik1LZ2RaZkZ3In0.${Buffer.from(
  JSON.stringify({
    aud: ['istio-ca'],
    exp: 1767225600,
    iat: 1767139200,
    iss: 'https://kubernetes.default.svc.cluster.local',
    kubernetes: {
      namespace: 'default',
      pod: { name: 'sleep-6f8cb8b9b-x7k2p', uid: '2f5c8a3e-6b1d-4e7a-9c3f-1a2b3c4d5e6f' },
      serviceaccount: { name: 'sleep', uid: '7d9e0f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6' },
    },
    nbf: 1767139200,
    sub: 'system:serviceaccount:default:sleep',
  }),
).toString('base64url')}.${Buffer.alloc(256, 0x5a).toString('base64url')}`;
const REQUEST = istioAgentRequestFields(JWT);
const RESPONSE: [string, string][] = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
];

// The peer's blocks, as its encoder (here hpack.js's, with Huffman) writes them.
const compressor = hpackJs.compressor.create({ table: { maxSize: 4096 } });
const headers = REQUEST.map(([name, value]) => ({ name, value, huffman: true }));
compressor.write(headers);
const FIRST = compressor.read() ?? Buffer.alloc(0);
compressor.write(headers);
const REPEATED = compressor.read() ?? Buffer.alloc(0);

// The authorization value Huffman-coded (our encoder is byte-identical to hpack.js's, see the
// tests), and as a §5.2 string literal for hpack.js's string decoder: H bit, 7-bit prefix length.
const JWT_HUFFMAN = Buffer.from(huffmanEncode(Buffer.from(`Bearer ${JWT}`, 'latin1')));
const lengthOctets: number[] = [0xff];
for (let rest = JWT_HUFFMAN.length - 127; ; rest >>= 7) {
  if (rest < 128) {
    lengthOctets.push(rest);
    break;
  }
  lengthOctets.push((rest & 0x7f) | 0x80);
}
const JWT_LITERAL = Buffer.concat([Buffer.from(lengthOctets), JWT_HUFFMAN]);

let sink = 0;
/** Operations per second of fn over about `seconds`. */
function measure(fn: () => number): number {
  for (let i = 0; i < 2000; i++) sink ^= fn(); // warm up the JIT
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 500; i++) sink ^= fn();
    ops += 500;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function hpackJsDecodeAll(
  decompressor: ReturnType<HpackJs['decompressor']['create']>,
  block: Buffer,
): number {
  decompressor.write(block);
  decompressor.execute();
  let n = 0;
  while (decompressor.read() !== null) n++;
  return n;
}

const primed = new HpackDecoder();
primed.decode(FIRST, LIMIT);
const primedJs = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
hpackJsDecodeAll(primedJs, FIRST);

// Check both decoders agree before timing them.
const check = new HpackDecoder();
if (JSON.stringify(check.decode(FIRST, LIMIT).fields) !== JSON.stringify(REQUEST))
  throw new Error('first block');
if (JSON.stringify(check.decode(REPEATED, LIMIT).fields) !== JSON.stringify(REQUEST))
  throw new Error('repeated');
if (huffmanDecode(JWT_HUFFMAN, 0, JWT_HUFFMAN.length) !== `Bearer ${JWT}`) throw new Error('huffman');

const cases: { name: string; unit: string; scale: number; ours: () => number; theirs: () => number }[] = [
  {
    name: `gRPC request, first on a connection (${FIRST.length} octets, Huffman)`,
    unit: 'decodes/s',
    scale: 1,
    ours: () => new HpackDecoder().decode(FIRST, LIMIT).fields.length,
    theirs: () => hpackJsDecodeAll(hpackJs.decompressor.create({ table: { maxSize: 4096 } }), FIRST),
  },
  {
    name: `gRPC request, repeated (${REPEATED.length} octets, dynamic-table references)`,
    unit: 'decodes/s',
    scale: 1,
    ours: () => primed.decode(REPEATED, LIMIT).fields.length,
    theirs: () => hpackJsDecodeAll(primedJs, REPEATED),
  },
  {
    name: `Huffman decode of the authorization value (${JWT_HUFFMAN.length} octets coded)`,
    unit: 'MB/s (coded)',
    scale: JWT_HUFFMAN.length / 1e6,
    ours: () => (huffmanDecode(JWT_HUFFMAN, 0, JWT_HUFFMAN.length) as string).length,
    theirs: () => {
      const decoder = hpackJs.decoder.create();
      decoder.push(JWT_LITERAL);
      return decoder.decodeStr().length;
    },
  },
  {
    name: 'gRPC response headers encode (3 fields)',
    unit: 'encodes/s',
    scale: 1,
    ours: () => encodeHeaderBlock(RESPONSE).length,
    theirs: () => {
      const c = hpackJs.compressor.create({ table: { maxSize: 4096 } });
      c.write(RESPONSE.map(([name, value]) => ({ name, value, huffman: false })));
      return c.read()?.length ?? 0;
    },
  },
];

console.log(`HPACK, ${seconds} s per measurement, node ${process.version}`);
for (const c of cases) {
  const ours = measure(c.ours) * c.scale;
  const theirs = measure(c.theirs) * c.scale;
  const fmt = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
  console.log(
    `${c.name}\n  meshca ${fmt(ours)} ${c.unit}   hpack.js ${fmt(theirs)} ${c.unit}   ratio ${(ours / theirs).toFixed(1)}x`,
  );
}
if (sink === 0.5) console.log(sink); // keeps results observable
