// Structured logging (pino) with a redaction policy; the rest of the code only calls the level
// methods and `child(bindings)`.

import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type LogFn, type LoggerOptions } from "pino";

/** Log levels accepted in configuration (pino's, plus "silent"). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The logging surface the server uses; a pino logger satisfies it. */
export interface Logger {
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  /** A logger whose every line carries `bindings` (e.g. `{ module: "roster" }`, `{ session }`). */
  child(bindings: Record<string, unknown>): Logger;
}

// PRIVACY: secrets and message content never reach the log, whatever the level, even when a
// caller passes a whole object. Stanza text may appear at "debug" (documented in the
// configuration reference); bodies inside structured fields are still redacted.
const REDACT_PATHS = [
  "password",
  "*.password",
  "newPassword",
  "*.newPassword",
  "body",
  "*.body",
  "token",
  "*.token",
  "privateKey",
  "*.privateKey",
];

/**
 * Creates the root logger. `destination` defaults to stdout; tests pass a stream to inspect
 * the JSON lines.
 */
export function createLogger(options: { level: LogLevel }, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = {
    level: options.level,
    base: undefined, // no pid/hostname on every line
    timestamp: stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: { err: stdSerializers.err },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

/** A logger that discards everything (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
