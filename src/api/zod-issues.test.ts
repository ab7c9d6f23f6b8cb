import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { certificateSchema } from './certificate.js';
import { secretSchema } from './secret.js';
import { fromZodIssues, knownFieldsAt } from './zod-issues.js';

describe('knownFieldsAt', () => {
  it.each<[string, z.ZodType, PropertyKey[], string[]]>([
    [
      'the root of a Certificate',
      certificateSchema,
      [],
      ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
    ],
    [
      'an optional nested object',
      certificateSchema,
      ['spec', 'privateKey'],
      ['algorithm', 'size', 'encoding', 'rotationPolicy'],
    ],
    ['an object inside a list', certificateSchema, ['spec', 'otherNames', 3], ['oid', 'utf8Value']],
    [
      'an object with defaults and transforms',
      certificateSchema,
      ['spec', 'issuerRef'],
      ['name', 'kind', 'group'],
    ],
    [
      'a schema behind a transform',
      secretSchema,
      [],
      ['apiVersion', 'kind', 'metadata', 'type', 'data', 'stringData', 'immutable'],
    ],
    ['a path that leads nowhere', certificateSchema, ['spec', 'nope'], []],
    ['a string, which has no fields', certificateSchema, ['spec', 'commonName'], []],
    [
      'a union of objects',
      z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.string() })]),
      [],
      ['a', 'b'],
    ],
    ['a record of objects', z.record(z.string(), z.strictObject({ c: z.string() })), ['any'], ['c']],
  ])('lists the fields of %s', (_what, schema, path, fields) => {
    expect([...knownFieldsAt(schema, path)].sort()).toEqual([...fields].sort());
  });
});

describe('fromZodIssues', () => {
  it('keeps a custom message of a check that is not one of the known codes, lowercased', () => {
    const schema = z.string().regex(/^a/);
    const parsed = schema.safeParse('b');
    expect(parsed.success).toBe(false);
    if (!parsed.success)
      expect(fromZodIssues(schema, parsed.error.issues)[0]?.message).toMatch(/^invalid string/);
  });

  it('phrases bounds of lists and strings without a custom message', () => {
    const schema = z.strictObject({ l: z.array(z.string()).min(1), s: z.string().max(2) });
    const parsed = schema.safeParse({ l: [], s: 'abc' }, { reportInput: true });
    if (parsed.success) return expect.unreachable();
    expect(fromZodIssues(schema, parsed.error.issues)).toEqual([
      { path: ['l'], message: 'must have at least 1 items' },
      { path: ['s'], message: 'must be at most 2 characters' },
    ]);
  });
});
