import { pino, type Logger } from 'pino';
import { DefaultLogger, type LogLevel } from '@temporalio/worker';

/** The worker's structured logger (JSON lines on stdout; pipe through pino-pretty to read). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'mlp-worker' } });
}

const TEMPORAL_TO_PINO = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Routes the Temporal SDK's logs (including workflow and activity `log`) into pino. */
export function temporalLoggerFor(logger: Logger, level: LogLevel = 'INFO'): DefaultLogger {
  return new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
    logger[TEMPORAL_TO_PINO[entryLevel]](meta ?? {}, message);
  });
}
