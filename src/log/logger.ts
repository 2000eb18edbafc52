// The root pino logger: structured, redacting secrets at the root. Modules take a logger as an
// argument (child per message/case); tests pass `silentLogger`. Machines get JSON lines; a person
// at a terminal gets readable lines (pino-pretty) unless LOG_FORMAT=json asks for JSON.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  /** 'auto' (default): readable when the destination is a terminal; LOG_FORMAT (json|pretty) decides first. */
  format?: 'auto' | 'json' | 'pretty';
}

const REDACT = { paths: ['*.password', '*.pass', '*.databaseUrl', '*.smtpUrl', '*.imapUrl', 'config.env'], censor: '[redacted]' };

/** `to`: file descriptor to write to; commands whose output is data (directory export) log to stderr (2). */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', to: 1 | 2 = 1, options: LoggerOptions = {}): Logger {
  const isTty = (to === 1 ? process.stdout : process.stderr).isTTY === true;
  const asked = process.env.LOG_FORMAT === 'json' || process.env.LOG_FORMAT === 'pretty' ? process.env.LOG_FORMAT : (options.format ?? 'auto');
  const readable = asked === 'pretty' || (asked === 'auto' && isTty);
  const opts = { level, base: { service: 'casemail' }, redact: REDACT };
  if (!readable) return pino(opts, pino.destination(to));
  return pino(opts, pretty({
    destination: to, sync: true, colorize: isTty, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss', ignore: 'pid,hostname,service',
    singleLine: true,
  }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
