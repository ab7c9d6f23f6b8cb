import type { Logger } from './logger.js';

/** A logger that writes nothing: the default where a caller passes none. */
export const NOOP_LOGGER: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => NOOP_LOGGER,
};
