// The root pino logger: structured, redacting secrets at the root. Modules take a logger as an
// argument (child per message/case); tests pass `silentLogger`.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'casemail' },
    redact: { paths: ['*.password', '*.pass', '*.databaseUrl', '*.smtpUrl', '*.imapUrl', 'config.env'], censor: '[redacted]' },
  });
}

export const silentLogger: Logger = pino({ level: 'silent' });
