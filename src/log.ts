/**
 * The one logger of tulip-ts (Tulip's `log.py`).
 *
 * Errors that nobody can catch (a callback that threw, a future whose exception was never retrieved, a slow
 * callback in debug mode) are reported here. By default they go to stderr; a program or a test replaces
 * `logger.handler` to route or capture them. Logging must never throw into the loop.
 */

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface LogRecord {
  level: LogLevel;
  message: string;
  /** The exception that caused the report, if any; its stack is printed after the message. */
  error?: unknown;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40 };

function write_to_stderr(record: LogRecord): void {
  let text = `tulip-ts ${record.level.toUpperCase()}: ${record.message}`;
  if (record.error !== undefined) {
    const e = record.error;
    text += '\n' + (e instanceof Error ? (e.stack ?? String(e)) : String(e));
  }
  process.stderr.write(text + '\n');
}

export class Logger {
  /** Records below this level are dropped before they reach the handler. */
  level: LogLevel = 'info';
  /** Where records go. Replace it to capture them (tests do). */
  handler: (record: LogRecord) => void = write_to_stderr;

  log(level: LogLevel, message: string, error?: unknown): void {
    if (order[level] < order[this.level]) return;
    try {
      this.handler(error === undefined ? { level, message } : { level, message, error });
    } catch {
      // A broken handler must not take the loop down with it.
    }
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warning(message: string, error?: unknown): void {
    this.log('warning', message, error);
  }
  error(message: string, error?: unknown): void {
    this.log('error', message, error);
  }
}

export const logger = new Logger();
