/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The severity order of the levels: a logger writes a line at its level or above. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Structured fields of one log line; names come from LOG_FIELDS. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A structured logger: one line per call, the message plus fields; children add fields to every line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line it writes (call fields win on a clash). */
  child(fields: LogFields): Logger;
}
