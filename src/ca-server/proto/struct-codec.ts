import type { WireReader} from './wire-reader.js';
import { malformed, WireType } from './wire-reader.js';
import { WireWriter } from './wire-writer.js';

/** A JSON value, the model of google.protobuf.Value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object, the model of google.protobuf.Struct. */
export type JsonObject = { [key: string]: JsonValue };

/** Nesting deeper than this is refused, so hostile input cannot exhaust the stack. */
export const MAX_STRUCT_DEPTH = 32;

/** Bounds `r` to the length-delimited field at its cursor, runs `read`, then restores the bound. */
function nested<T>(r: WireReader, read: () => T): T {
  const [start, end] = r.delimited();
  const outer = r.end;
  r.pos = start;
  r.end = end;
  try {
    return read();
  } finally {
    r.pos = end;
    r.end = outer;
  }
}

/**
 * Decodes google.protobuf.Struct { map<string, Value> fields = 1; } from the length-delimited
 * field at the reader's cursor. Repeated keys keep the last value, as protobuf map semantics say;
 * `into` merges a repeated Struct field into the object already read.
 */
export function decodeStruct(r: WireReader, depth = 0, into?: JsonObject): JsonObject {
  if (depth > MAX_STRUCT_DEPTH) malformed(`metadata nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  return nested(r, () => {
    const out: JsonObject = into ?? {};
    while (!r.done) {
      const [field, wt] = r.tag();
      if (field !== 1) {
        r.skip(wt);
        continue;
      }
      r.expect('Struct.fields', wt, WireType.LEN);
      let key = '';
      let value: JsonValue = null;
      nested(r, () => {
        while (!r.done) {
          const [f, w] = r.tag();
          if (f === 1) {
            r.expect('Struct.fields.key', w, WireType.LEN);
            key = r.string();
          } else if (f === 2) {
            r.expect('Struct.fields.value', w, WireType.LEN);
            value = decodeValue(r, depth + 1);
          } else {
            r.skip(w);
          }
        }
      });
      // "__proto__" is data, never a prototype change: define it as an own property.
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = value;
      }
    }
    return out;
  });
}

/**
 * Decodes google.protobuf.Value at the reader's cursor: a oneof of null_value = 1,
 * number_value = 2, string_value = 3, bool_value = 4, struct_value = 5, list_value = 6.
 * An empty Value (no kind set) reads as null.
 */
export function decodeValue(r: WireReader, depth: number): JsonValue {
  if (depth > MAX_STRUCT_DEPTH) malformed(`metadata nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  return nested(r, () => {
    let value: JsonValue = null;
    while (!r.done) {
      const [field, wt] = r.tag();
      switch (field) {
        case 1:
          r.expect('Value.null_value', wt, WireType.VARINT);
          r.bool();
          value = null;
          break;
        case 2:
          r.expect('Value.number_value', wt, WireType.I64);
          value = r.double();
          break;
        case 3:
          r.expect('Value.string_value', wt, WireType.LEN);
          value = r.string();
          break;
        case 4:
          r.expect('Value.bool_value', wt, WireType.VARINT);
          value = r.bool();
          break;
        case 5:
          r.expect('Value.struct_value', wt, WireType.LEN);
          value = decodeStruct(r, depth + 1);
          break;
        case 6:
          r.expect('Value.list_value', wt, WireType.LEN);
          value = decodeListValue(r, depth + 1);
          break;
        default:
          r.skip(wt);
      }
    }
    return value;
  });
}

/** Decodes google.protobuf.ListValue { repeated Value values = 1; } at the reader's cursor. */
function decodeListValue(r: WireReader, depth: number): JsonValue[] {
  if (depth > MAX_STRUCT_DEPTH) malformed(`metadata nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  return nested(r, () => {
    const out: JsonValue[] = [];
    while (!r.done) {
      const [field, wt] = r.tag();
      if (field !== 1) {
        r.skip(wt);
        continue;
      }
      r.expect('ListValue.values', wt, WireType.LEN);
      out.push(decodeValue(r, depth + 1));
    }
    return out;
  });
}

/** Encodes a JSON object as google.protobuf.Struct. */
export function encodeStruct(obj: JsonObject): Uint8Array {
  const w = new WireWriter();
  for (const key of Object.keys(obj)) {
    const entry = new WireWriter().tag(1, WireType.LEN).string(key);
    entry.tag(2, WireType.LEN).bytes(encodeValue(obj[key] ?? null));
    w.tag(1, WireType.LEN).bytes(entry.finish());
  }
  return w.finish();
}

/** Encodes a JSON value as google.protobuf.Value. */
export function encodeValue(value: JsonValue): Uint8Array {
  const w = new WireWriter(32);
  if (value === null) w.tag(1, WireType.VARINT).uint32(0);
  else if (typeof value === 'number') w.tag(2, WireType.I64).double(value);
  else if (typeof value === 'string') w.tag(3, WireType.LEN).string(value);
  else if (typeof value === 'boolean') w.tag(4, WireType.VARINT).uint32(value ? 1 : 0);
  else if (Array.isArray(value)) {
    const list = new WireWriter();
    for (const item of value) list.tag(1, WireType.LEN).bytes(encodeValue(item));
    w.tag(6, WireType.LEN).bytes(list.finish());
  } else w.tag(5, WireType.LEN).bytes(encodeStruct(value));
  return w.finish();
}
