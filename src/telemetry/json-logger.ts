import { MeshcaError } from '../errors/index.js';
import { LOG_LEVELS, type LogFields, type LogLevel, type Logger } from './logger.js';
import { redactForLog, redactText } from './redact.js';

/** Where lines go: a stream, or anything with a `write(string)`. */
export interface LogSink {
  write(line: string): unknown;
}

/** Options of createJsonLogger. */
export interface JsonLoggerOptions {
  readonly sink: LogSink;
  /** Lines below this level are dropped. Default `info`. */
  readonly level?: LogLevel;
  /** Milliseconds since the epoch, for the `time` field. */
  readonly clock: () => number;
  /** Fields on every line. */
  readonly fields?: LogFields;
}

// The keys every line starts with; a field of the same name is renamed rather than overwriting them.
const RESERVED = new Set(['time', 'level', 'msg']);

/**
 * A JSON-lines logger: one object per line, `{"time","level","msg",...fields}`, every value passed
 * through the redaction rule. Hand-written rather than pino because meshca needs redaction by
 * content (a PEM private key or a JWT in any field, at any depth), which pino's path-based redact
 * cannot express, and needs nothing pino adds beyond that (transports, worker threads).
 */
export function createJsonLogger(options: JsonLoggerOptions): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? 'info');
  if (min < 0)
    throw new MeshcaError(
      'INVALID_INPUT',
      `unknown log level ${JSON.stringify(options.level)}: use debug, info, warn or error`,
    );
  return make(options, min, options.fields ?? {});
}

function make(options: JsonLoggerOptions, min: number, base: LogFields): Logger {
  const write = (level: LogLevel, msg: string, fields: LogFields | undefined): void => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const line: Record<string, unknown> = {
      time: isoTime(options.clock()),
      level,
      msg: redactText(String(msg)),
    };
    for (const source of [base, fields ?? {}]) {
      const redacted = redactForLog(source);
      if (redacted === null || typeof redacted !== 'object' || Array.isArray(redacted)) continue;
      for (const [k, v] of Object.entries(redacted)) line[RESERVED.has(k) ? `fields.${k}` : k] = v;
    }
    options.sink.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (fields) => make(options, min, { ...base, ...fields }),
  };
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : String(ms);
}
