import { describe, expect, it } from 'vitest';
import {
  STATIC_FIELD_INDEX,
  STATIC_NAME_INDEX,
  STATIC_TABLE,
  STATIC_TABLE_LENGTH,
} from './hpack-static-table.js';
import { hpackJs } from './testing/hpack-js.js';

describe('the HPACK static table', () => {
  it('has the 61 entries of RFC 7541 Appendix A, equal to the independent hpack.js copy', () => {
    expect(STATIC_TABLE_LENGTH).toBe(61);
    expect(STATIC_TABLE).toEqual(hpackJs['static-table'].table.map(({ name, value }) => [name, value]));
  });

  it.each([
    { index: 1, name: ':authority', value: '' },
    { index: 2, name: ':method', value: 'GET' },
    { index: 8, name: ':status', value: '200' },
    { index: 16, name: 'accept-encoding', value: 'gzip, deflate' },
    { index: 31, name: 'content-type', value: '' },
    { index: 61, name: 'www-authenticate', value: '' },
  ])('holds $name: "$value" at index $index, as printed in Appendix A', ({ index, name, value }) => {
    expect(STATIC_TABLE[index - 1]).toEqual([name, value]);
    expect(STATIC_FIELD_INDEX.get(`${name}\0${value}`)).toBe(index);
  });

  it.each([
    { name: ':method', index: 2 },
    { name: ':path', index: 4 },
    { name: ':status', index: 8 },
    { name: 'content-type', index: 31 },
  ])('indexes the name $name at its lowest index $index', ({ name, index }) => {
    expect(STATIC_NAME_INDEX.get(name)).toBe(index);
  });
});
