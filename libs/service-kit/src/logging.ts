import pino from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Logger = pino.Logger;

/**
 * The process-wide root logger: JSON lines on stdout, one `component` field per app, and child loggers per
 * module (`logger.child({ module: 'mcp' })`).
 */
export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
