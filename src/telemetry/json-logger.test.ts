import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MeshcaError } from '../errors/index.js';
import { createJsonLogger } from './json-logger.js';
import { LOG_FIELDS } from './log-fields.js';
import type { LogLevel } from './logger.js';
import { NOOP_LOGGER } from './noop-logger.js';
import { REDACTED } from './redact.js';

/** A sink that keeps lines, and the logger writing to it at a fixed time. */
function capture(level?: LogLevel) {
  const lines: string[] = [];
  const logger = createJsonLogger({
    sink: { write: (line: string) => lines.push(line) },
    clock: () => Date.UTC(2030, 0, 2, 3, 4, 5, 6),
    ...(level === undefined ? {} : { level }),
  });
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, logger, parsed };
}

const JWT =
  'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpzbGVlcCJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

describe('createJsonLogger', () => {
  it('writes one JSON object per line with time from the injected clock, level, msg and fields', () => {
    const { lines, logger } = capture();
    logger.info('certificate issued', {
      [LOG_FIELDS.identity]: 'spiffe://cluster.local/ns/a/sa/b',
      [LOG_FIELDS.serial]: '0a1b',
    });
    expect(lines).toEqual([
      '{"time":"2030-01-02T03:04:05.006Z","level":"info","msg":"certificate issued","identity":"spiffe://cluster.local/ns/a/sa/b","serial":"0a1b"}\n',
    ]);
  });

  it.each<[LogLevel, string[]]>([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['error', ['error']],
  ])('at level %s writes only lines at that level or above', (level, expected) => {
    const { logger, parsed } = capture(level);
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(parsed().map((l) => l.level)).toEqual(expected);
  });

  it('adds a child’s fields to every line, lets call fields win, and leaves the parent unchanged', () => {
    const { logger, parsed } = capture();
    const child = logger.child({ component: 'ca-server', cluster_id: 'east' });
    child.child({ cluster_id: 'west' }).warn('x', { caller: 'jwt:sa@1.2.3.4' });
    logger.info('parent');
    expect(parsed()).toEqual([
      expect.objectContaining({ component: 'ca-server', cluster_id: 'west', caller: 'jwt:sa@1.2.3.4' }),
      { time: '2030-01-02T03:04:05.006Z', level: 'info', msg: 'parent' },
    ]);
  });

  it('renames a field that would overwrite time, level or msg instead of letting it forge them', () => {
    const { parsed } = (() => {
      const c = capture();
      c.logger.error('real', { level: 'debug', msg: 'forged', time: 'yesterday' });
      return c;
    })();
    expect(parsed()[0]).toEqual({
      time: '2030-01-02T03:04:05.006Z',
      level: 'error',
      msg: 'real',
      'fields.level': 'debug',
      'fields.msg': 'forged',
      'fields.time': 'yesterday',
    });
  });

  it('never writes a PEM private key or a JWT, in the message or in any field', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { lines, logger } = capture();
    logger.error(`could not load ${pem}`, {
      authorization: `Bearer ${JWT}`,
      detail: { note: `token was ${JWT}` },
      key: privateKey,
      err: new MeshcaError('UNAUTHENTICATED', `rejected ${JWT}`),
    });
    const text = lines.join('');
    expect(text).not.toContain(pem.split('\n')[1]!);
    expect(text).not.toContain('c2lnbmF0dXJlc2lnbmF0dXJl');
    expect(text).toContain(REDACTED);
  });

  it('keeps one line per call even when a message holds newlines, so a log reader cannot be fooled', () => {
    const { lines, logger } = capture();
    logger.warn('line one\n{"level":"error","msg":"forged"}');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.trimEnd().split('\n')).toHaveLength(1);
  });

  it('writes a line for circular, bigint and byte fields rather than throwing', () => {
    const { logger, parsed } = capture();
    const loop: Record<string, unknown> = {};
    loop.loop = loop;
    logger.info('odd', { loop, big: 10n, der: Buffer.alloc(4) });
    expect(parsed()[0]).toMatchObject({ loop: { loop: '[circular]' }, big: '10', der: '[4 bytes]' });
  });

  it('refuses an unknown level with the levels it accepts', () => {
    expect(() =>
      createJsonLogger({ sink: { write: () => true }, clock: () => 0, level: 'verbose' as LogLevel }),
    ).toThrow('unknown log level "verbose": use debug, info, warn or error');
  });

  it('offers a no-op logger whose children are no-op loggers too', () => {
    expect(() => NOOP_LOGGER.child({ a: 1 }).error('nothing')).not.toThrow();
    expect(NOOP_LOGGER.child({})).toBe(NOOP_LOGGER);
  });
});
