// The root pino logger: structured, redacting secrets at the root. Modules take a logger as an
// argument (child per message/case); tests pass `silentLogger`.
import { pino, type Logger } from 'pino';

export type { Logger };

/** `to`: file descriptor to write to; commands whose output is data (directory export) log to stderr (2). */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', to: 1 | 2 = 1): Logger {
  return pino({
    level,
    base: { service: 'casemail' },
    redact: { paths: ['*.password', '*.pass', '*.databaseUrl', '*.smtpUrl', '*.imapUrl', 'config.env'], censor: '[redacted]' },
  }, pino.destination(to));
}

export const silentLogger: Logger = pino({ level: 'silent' });
