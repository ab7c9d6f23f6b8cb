import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackError, encodeHeaderBlock } from './hpack.js';
import { STATIC_TABLE } from './hpack-static-table.js';
import { hpackJs } from './testing/hpack-js.js';
import { istioAgentRequestFields } from './testing/istio-agent-request.js';

const hex = (dump: string): Buffer => Buffer.from(dump.replace(/\s+/g, ''), 'hex');
const NO_LIMIT = 1 << 30;

/** Decodes with hpack.js (a fresh decompressor per block: our encoder never uses its dynamic table). */
function hpackJsDecode(block: Buffer): [string, string][] {
  const decompressor = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
  decompressor.write(block);
  decompressor.execute();
  const fields: [string, string][] = [];
  for (let header = decompressor.read(); header !== null; header = decompressor.read()) {
    fields.push([header.name, header.value]);
  }
  return fields;
}

/** A §5.1 integer, written here independently of the code under test. */
function integer(pattern: number, prefixBits: number, value: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [pattern | value];
  const octets = [pattern | max];
  let rest = value - max;
  while (rest >= 128) {
    octets.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  octets.push(rest);
  return octets;
}

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const URL = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const REQUESTS = [
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    table: [[':authority', 'www.example.com']],
    size: 57,
  },
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    table: [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    size: 110,
  },
  {
    fields: [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
    table: [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    size: 164,
  },
];
const RESPONSES = [
  {
    fields: [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', DATE1],
      ['location', URL],
    ],
    table: [
      ['location', URL],
      ['date', DATE1],
      ['cache-control', 'private'],
      [':status', '302'],
    ],
    size: 222,
  },
  {
    fields: [
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', DATE1],
      ['location', URL],
    ],
    table: [
      [':status', '307'],
      ['location', URL],
      ['date', DATE1],
      ['cache-control', 'private'],
    ],
    size: 222,
  },
  {
    fields: [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', DATE2],
      ['location', URL],
      ['content-encoding', 'gzip'],
      ['set-cookie', COOKIE],
    ],
    table: [
      ['set-cookie', COOKIE],
      ['content-encoding', 'gzip'],
      ['date', DATE2],
    ],
    size: 215,
  },
];

// RFC 7541 Appendix C, the hex dumps as printed there.
const APPENDIX_C = [
  {
    section: 'C.3 (requests without Huffman coding)',
    tableSize: 4096,
    steps: REQUESTS,
    blocks: [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
  },
  {
    section: 'C.4 (requests with Huffman coding)',
    tableSize: 4096,
    steps: REQUESTS,
    blocks: [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
  },
  {
    section: 'C.5 (responses without Huffman coding, 256-octet table with evictions)',
    tableSize: 256,
    steps: RESPONSES,
    blocks: [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
       3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      '4803 3330 37c1 c0bf',
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970
       7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61
       6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
    ],
  },
  {
    section: 'C.6 (responses with Huffman coding, 256-octet table with evictions)',
    tableSize: 256,
    steps: RESPONSES,
    blocks: [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
       1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      '4883 640e ffc1 c0bf',
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
       e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ],
  },
];

/** A gRPC request as a client sends it first on a connection: Huffman literals with incremental indexing. */
function grpcRequestFields(): [string, string][] {
  return istioAgentRequestFields(
    `eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.${'eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpzbGVlcCJ9'.repeat(14)}.c2lnbmF0dXJl`,
  );
}

function hpackJsEncode(fields: [string, string][], huffman = true): Buffer {
  const compressor = hpackJs.compressor.create({ table: { maxSize: 4096 } });
  compressor.write(fields.map(([name, value]) => ({ name, value, huffman })));
  return compressor.read() ?? Buffer.alloc(0);
}

describe('HpackDecoder on RFC 7541 Appendix C', () => {
  it.each([
    {
      section: 'C.2.1 (literal with indexing)',
      block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
      fields: [['custom-key', 'custom-header']],
      table: [['custom-key', 'custom-header']],
      size: 55,
    },
    {
      section: 'C.2.2 (literal without indexing)',
      block: '040c 2f73 616d 706c 652f 7061 7468',
      fields: [[':path', '/sample/path']],
      table: [],
      size: 0,
    },
    {
      section: 'C.2.3 (literal never indexed)',
      block: '1008 7061 7373 776f 7264 0673 6563 7265 74',
      fields: [['password', 'secret']],
      table: [],
      size: 0,
    },
    { section: 'C.2.4 (indexed field)', block: '82', fields: [[':method', 'GET']], table: [], size: 0 },
  ])('decodes $section to the listed field and table', ({ block, fields, table, size }) => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(hex(block), NO_LIMIT)).toEqual({ fields, tooLarge: false });
    expect(decoder.dynamicTable()).toEqual(table);
    expect(decoder.dynamicTableSize()).toBe(size);
  });

  it.each(APPENDIX_C)('decodes $section block by block to the listed fields and table states', (example) => {
    const decoder = new HpackDecoder(example.tableSize);
    example.blocks.forEach((block, i) => {
      const step = example.steps[i];
      expect(decoder.decode(hex(block), NO_LIMIT)).toEqual({ fields: step?.fields, tooLarge: false });
      expect(decoder.dynamicTable()).toEqual(step?.table);
      expect(decoder.dynamicTableSize()).toBe(step?.size);
    });
  });
});

// Header strings as octets: names of a few shapes (static names make name-indexed literals), latin1 values.
const nameArb = fc.oneof(
  fc.constantFrom(...STATIC_TABLE.map(([name]) => name)),
  fc.stringMatching(/^[a-z0-9-]{0,20}$/),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
);
const valueArb = fc.oneof(
  fc.constantFrom('', '200', 'GET', 'gzip, deflate', 'application/grpc'),
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
);
const headerArb = fc.record({
  name: nameArb,
  value: valueArb,
  huffman: fc.boolean(),
  neverIndex: fc.boolean(),
  incremental: fc.boolean(),
});

describe('HpackDecoder against hpack.js as the peer encoder', () => {
  it('decodes sequences of random header lists sharing one dynamic table, with Huffman, indexing and size changes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(256, 4096, 65536),
        fc.array(
          fc.record({
            sizeChange: fc.oneof(fc.constant(null), fc.constant('reset'), fc.nat({ max: 65536 })),
            headers: fc.array(headerArb, { maxLength: 30 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        (maxSize, steps) => {
          const compressor = hpackJs.compressor.create({ table: { maxSize } });
          const decoder = new HpackDecoder(maxSize);
          for (const { sizeChange, headers } of steps) {
            const prefix: number[] = [];
            if (sizeChange === 'reset') {
              compressor.reset(); // emits updates to 0, then back to maxSize
            } else if (sizeChange !== null) {
              const size = Math.min(sizeChange, maxSize);
              // hpack.js signals only an update to its maximum; smaller ones we write ourselves (§6.3).
              if (size < maxSize) prefix.push(...integer(0x20, 5, size));
              compressor.updateTableSize(size);
            }
            if (headers.length > 0) compressor.write(headers);
            const block = Buffer.concat([Buffer.from(prefix), compressor.read() ?? Buffer.alloc(0)]);
            expect(decoder.decode(block, NO_LIMIT)).toEqual({
              fields: headers.map(({ name, value }) => [name, value]),
              tooLarge: false,
            });
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decodes a gRPC request Huffman-coded first and then referenced from the dynamic table', () => {
    const fields = grpcRequestFields();
    const compressor = hpackJs.compressor.create({ table: { maxSize: 4096 } });
    const decoder = new HpackDecoder();
    compressor.write(fields.map(([name, value]) => ({ name, value, huffman: true })));
    const first = compressor.read() ?? Buffer.alloc(0);
    compressor.write(fields.map(([name, value]) => ({ name, value, huffman: true })));
    const second = compressor.read() ?? Buffer.alloc(0);
    expect(second.length).toBe(fields.length); // every field one indexed octet
    expect(decoder.decode(first, NO_LIMIT)).toEqual({ fields, tooLarge: false });
    expect(decoder.decode(second, NO_LIMIT)).toEqual({ fields, tooLarge: false });
  });
});

describe('HpackDecoder limits on the header list size', () => {
  // The C.3.1 list is 42 + 43 + 38 + 57 = 180 octets by RFC 9113 §6.5.2.
  const block = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');

  it.each([
    { limit: 180, tooLarge: false, kept: 4 },
    { limit: 179, tooLarge: true, kept: 3 },
    { limit: 85, tooLarge: true, kept: 2 },
    { limit: 0, tooLarge: true, kept: 0 },
  ])(
    'with a limit of $limit octets it answers tooLarge $tooLarge and keeps $kept fields',
    ({ limit, tooLarge, kept }) => {
      const result = new HpackDecoder().decode(block, limit);
      expect(result.tooLarge).toBe(tooLarge);
      expect(result.fields).toHaveLength(kept);
    },
  );

  it('still inserts literals into the dynamic table when the list is too large, so later blocks stay in step', () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(block, 10).tooLarge).toBe(true);
    expect(decoder.dynamicTable()).toEqual([[':authority', 'www.example.com']]);
    expect(decoder.decode(hex('be'), NO_LIMIT).fields).toEqual([[':authority', 'www.example.com']]);
  });

  it('returns tooLarge for a 1 MiB block of repeated indexed fields without keeping them', () => {
    const result = new HpackDecoder().decode(Buffer.alloc(1 << 20, 0x82), 16384);
    expect(result.tooLarge).toBe(true);
    expect(result.fields).toHaveLength(Math.floor(16384 / 42));
  });

  it('keeps the table bounded through a 1 MiB block of literals that each evict the previous one', () => {
    // 0x40 literal with indexing, new name "a", value of 200 'b': each entry (233 octets) evicts the last from 256.
    const one = Buffer.from([0x40, 0x01, 0x61, 0x7f, 200 - 127, ...Buffer.alloc(200, 0x62)]);
    const block = Buffer.concat(Array.from({ length: Math.floor((1 << 20) / one.length) }, () => one));
    const decoder = new HpackDecoder(256);
    expect(decoder.decode(block, 16384).tooLarge).toBe(true);
    expect(decoder.dynamicTable()).toEqual([['a', 'b'.repeat(200)]]);
    expect(decoder.dynamicTableSize()).toBe(233);
  });
});

describe('HpackDecoder dynamic table', () => {
  it('empties the table when an entry larger than the whole table is added (RFC 7541 §4.4)', () => {
    const decoder = new HpackDecoder(100);
    const small = Buffer.from([0x41, 0x0b, ...Buffer.from('example.com')]); // :authority, 53 octets
    expect(decoder.decode(small, NO_LIMIT).fields).toEqual([[':authority', 'example.com']]);
    expect(decoder.dynamicTable()).toHaveLength(1);
    const big = Buffer.from([0x40, 0x01, 0x61, ...integer(0, 7, 100), ...Buffer.alloc(100, 0x62)]); // 133 octets
    expect(decoder.decode(big, NO_LIMIT).fields).toEqual([['a', 'b'.repeat(100)]]);
    expect(decoder.dynamicTable()).toEqual([]);
    expect(decoder.dynamicTableSize()).toBe(0);
  });

  it('evicts to a smaller size on a size update and refuses indices that were evicted', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'), NO_LIMIT);
    decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'), NO_LIMIT);
    expect(decoder.decode(hex('3f1a be'), NO_LIMIT).fields).toEqual([['cache-control', 'no-cache']]); // size 57
    expect(decoder.dynamicTable()).toEqual([['cache-control', 'no-cache']]);
    expect(() => decoder.decode(hex('bf'), NO_LIMIT)).toThrow(
      'index 63 is past the end of the table (61 static + 1 dynamic entries)',
    );
  });

  it('indexes hundreds of small entries correctly as its ring grows', () => {
    const decoder = new HpackDecoder(65536);
    const literals: number[] = [];
    for (let i = 0; i < 500; i++)
      literals.push(0x40, 0x01, 0x6e, ...integer(0, 7, String(i).length), ...Buffer.from(String(i)));
    decoder.decode(Buffer.from(literals), NO_LIMIT);
    // Dynamic index 1 is the newest (499), index k is 500 - k.
    for (const k of [1, 2, 17, 250, 500]) {
      expect(decoder.decode(Buffer.from(integer(0x80, 7, 61 + k)), NO_LIMIT).fields).toEqual([
        ['n', String(500 - k)],
      ]);
    }
  });
});

describe('HpackDecoder on malformed and hostile blocks', () => {
  const before =
    (octets: number[]): (() => unknown) =>
    () =>
      new HpackDecoder().decode(Buffer.from(octets), NO_LIMIT);

  it.each([
    { why: 'index 0', octets: [0x80], message: 'index 0 in an indexed header field at octet 0' },
    {
      why: 'index 0 after a field',
      octets: [0x82, 0x80],
      message: 'index 0 in an indexed header field at octet 1',
    },
    {
      why: 'an index past an empty dynamic table',
      octets: [0xbe],
      message: 'index 62 is past the end of the table (61 static + 0 dynamic entries)',
    },
    {
      why: 'a literal whose name index is past the table',
      octets: [0x7e, 0x01, 0x61],
      message: 'index 62 is past the end of the table (61 static + 0 dynamic entries)',
    },
    {
      why: 'an integer of 2^31-1 (accepted as an integer, refused as an index)',
      octets: integer(0x80, 7, 2 ** 31 - 1),
      message: 'index 2147483647 is past the end of the table (61 static + 0 dynamic entries)',
    },
    {
      why: 'an integer of 2^31',
      octets: integer(0x80, 7, 2 ** 31),
      message: 'integer at octet 0 exceeds 2^31-1',
    },
    {
      why: 'an integer of 2^35',
      octets: [0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
      message: 'integer at octet 0 exceeds 2^31-1',
    },
    {
      why: 'an integer with a sixth continuation octet',
      octets: [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
      message: 'integer at octet 0 has more than 5 continuation octets',
    },
    {
      why: 'an integer cut by the end of the block',
      octets: [0x82, 0xff, 0x80],
      message: 'integer at octet 1 is truncated by the end of the block',
    },
    {
      why: 'a string length past the end of the block',
      octets: [0x04, 0x05, 0x61],
      message: 'string literal at octet 1 has length 5 but only 1 octets remain in the block',
    },
    {
      why: 'a huge string length',
      octets: [0x04, ...integer(0, 7, 2 ** 31 - 1), 0x61],
      message: 'string literal at octet 1 has length 2147483647 but only 1 octets remain in the block',
    },
    {
      why: 'a literal missing its value',
      octets: [0x04],
      message: 'string literal expected at octet 1 past the end of the block',
    },
    {
      why: 'a size update above SETTINGS_HEADER_TABLE_SIZE',
      octets: integer(0x20, 5, 4097),
      message: 'dynamic table size update to 4097 at octet 0 exceeds our SETTINGS_HEADER_TABLE_SIZE 4096',
    },
    {
      why: 'a size update after a field',
      octets: [0x82, 0x20],
      message: 'dynamic table size update at octet 1 after a header field (RFC 7541 §4.2)',
    },
  ])('throws HpackError for $why', ({ octets, message }) => {
    expect(before(octets)).toThrow(HpackError);
    expect(before(octets)).toThrow(message);
  });

  it.each([
    {
      why: 'an integer with five continuation octets, the last zero',
      octets: [0x3f, 0x80, 0x80, 0x80, 0x80, 0x00, 0x82], // a size update to 31
      fields: [[':method', 'GET']],
    },
    {
      why: 'two size updates before the first field',
      octets: [0x20, ...integer(0x20, 5, 4096), 0x82],
      fields: [[':method', 'GET']],
    },
    {
      why: 'a size update to exactly SETTINGS_HEADER_TABLE_SIZE',
      octets: [...integer(0x20, 5, 4096), 0x82],
      fields: [[':method', 'GET']],
    },
    { why: 'an empty block', octets: [], fields: [] },
  ])('accepts $why', ({ octets, fields }) => {
    expect(before(octets)()).toEqual({ fields, tooLarge: false });
  });

  it('rejects a maxTableSize that is not a non-negative 31-bit integer', () => {
    for (const size of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => new HpackDecoder(size)).toThrow(
        `maxTableSize must be an integer from 0 to 2^31-1, not ${size}`,
      );
    }
  });

  it('either decodes or throws HpackError for every truncation of valid blocks', () => {
    const blocks = [
      ...APPENDIX_C.flatMap((example) => example.blocks.map(hex)),
      hpackJsEncode(grpcRequestFields(), true),
      hpackJsEncode(grpcRequestFields(), false),
    ];
    let refused = 0;
    for (const block of blocks) {
      for (let end = 0; end <= block.length; end++) {
        try {
          new HpackDecoder().decode(block.subarray(0, end), NO_LIMIT);
        } catch (error) {
          expect(error).toBeInstanceOf(HpackError);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('answers random bytes only with fields or an HpackError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (octets, primed) => {
        const decoder = new HpackDecoder();
        if (primed) decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'), NO_LIMIT);
        try {
          const { fields } = decoder.decode(octets, NO_LIMIT);
          for (const [name, value] of fields)
            expect([typeof name, typeof value]).toEqual(['string', 'string']);
        } catch (error) {
          expect(error).toBeInstanceOf(HpackError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('encodeHeaderBlock', () => {
  it.each([
    { why: 'indexes a field equal to a static entry', fields: [[':status', '200']], hex: '88' },
    { why: 'indexes the static entry with an empty value', fields: [[':authority', '']], hex: '81' },
    {
      why: 'indexes a static name below 15 in the 4-bit prefix',
      fields: [[':status', '418']],
      hex: '08 03 343138',
    },
    {
      why: 'indexes a static name of 15 or more with a continuation octet',
      fields: [['content-type', 'application/grpc']],
      hex: '0f10 10 6170706c69636174696f6e2f67727063',
    },
    {
      why: 'writes a new name as a raw literal',
      fields: [['grpc-status', '0']],
      hex: '00 0b 677270632d737461747573 01 30',
    },
    { why: 'writes nothing for no fields', fields: [], hex: '' },
  ] as { why: string; fields: [string, string][]; hex: string }[])('$why', ({ fields, hex: expected }) => {
    expect(encodeHeaderBlock(fields).toString('hex')).toBe(hex(expected).toString('hex'));
  });

  it('writes a value of 127 octets or more with a multi-octet length', () => {
    const value = 'x'.repeat(300);
    expect([...encodeHeaderBlock([['grpc-message', value]]).subarray(0, 17)]).toEqual([
      0x00,
      0x0c,
      ...Buffer.from('grpc-message'),
      0x7f,
      300 - 127 - 128 + 0x80,
      0x01,
    ]);
  });

  it('produces blocks that hpack.js and our decoder both decode to the input fields', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(...STATIC_TABLE.map(([name, value]) => [name, value] as [string, string])),
            fc.tuple(nameArb, valueArb),
          ),
          { maxLength: 20 },
        ),
        (fields) => {
          const block = encodeHeaderBlock(fields);
          expect(hpackJsDecode(block)).toEqual(fields);
          const decoder = new HpackDecoder();
          expect(decoder.decode(block, NO_LIMIT)).toEqual({ fields, tooLarge: false });
          expect(decoder.dynamicTable()).toEqual([]); // we never index into the peer's table
        },
      ),
      { numRuns: 500 },
    );
  });
});
