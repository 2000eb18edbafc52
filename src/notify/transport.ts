// How a built message leaves the service: over SMTP through a pool of connections
// (SMTP_URL, smtp:// or smtps://; smtp-pool.ts), or as .eml files in a folder (local mode's var/outbox/).
// The network and file I/O of sending live here and nowhere else; callers hand over raw bytes.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { returnPathFor } from '../threading/return-path-token.js';
import { SmtpPool } from './smtp-pool.js';

export interface OutgoingEnvelope {
  /** Envelope sender (MAIL FROM): where bounces go. */
  from: string;
  /** Envelope recipients (RCPT TO): To and Cc together. */
  to: string[];
  /** The complete RFC 5322 message. */
  raw: Buffer;
  /** Names the file in the file transport; ignored by SMTP. */
  label?: { at: Date; caseNumber: number | null; outboxId: number };
}

export interface SendResult {
  /** The server's final reply (SMTP) or where the file went. */
  response: string;
  /** Recipients the server refused while it accepted the others. */
  rejected: string[];
}

export interface MailTransport {
  readonly name: string;
  send(envelope: OutgoingEnvelope): Promise<SendResult>;
  close(): Promise<void>;
}

export interface SmtpTransportOptions {
  /** smtp://user:pass@host:port or smtps://…; credentials URL-encoded. */
  url: string;
  maxConnections?: number;
  /** Messages one pooled connection carries before it is replaced (default 1000). */
  maxMessages?: number;
  /** Bounds on one send, kept well under the dispatcher's lease so a slow send never overlaps a re-claim. */
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  logger?: Logger;
}

export function createSmtpTransport(opts: SmtpTransportOptions): MailTransport {
  const url = new URL(opts.url);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw Object.assign(new Error(`SMTP_URL must start with smtp:// or smtps://, got ${url.protocol}//`), { code: 'config_invalid' });
  }
  const pool = new SmtpPool({
    url: opts.url,
    maxConnections: opts.maxConnections ?? 3,
    // A new connection costs a TCP (or TLS) handshake and EHLO; relays commonly allow far more than 100 per session.
    maxMessages: opts.maxMessages ?? 1000,
    connectionTimeoutMs: opts.connectionTimeoutMs ?? 30_000,
    greetingTimeoutMs: opts.greetingTimeoutMs ?? 30_000,
    socketTimeoutMs: opts.socketTimeoutMs ?? 120_000,
    logger: opts.logger?.child({ component: 'smtp-pool' }),
  });
  const log = opts.logger?.child({ component: 'smtp-transport', host: url.hostname, port: url.port || null });
  return {
    name: `smtp ${url.hostname}${url.port ? `:${url.port}` : ''}`,
    async send(envelope) {
      // The raw message already carries every header: it goes as it is.
      const info = await pool.send({ from: envelope.from, to: envelope.to }, envelope.raw);
      if (info.rejected.length > 0) log?.warn({ rejected: info.rejected }, 'server refused some recipients');
      return { response: info.response, rejected: info.rejected };
    },
    close: () => pool.close(),
  };
}

/** 2026-11-30T09:00:00.123Z -> 20261130T090000123Z: sorts by time, safe in every file system. */
function fileTimestamp(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

/**
 * Writes each message to `<dir>/<timestamp>-<case>-<id>.eml`. The file appears complete or not
 * at all: written to a temporary name, flushed, then renamed (rename is atomic in one folder).
 */
export function createFileTransport(dir: string): MailTransport {
  let ready: Promise<unknown> | null = null;
  return {
    name: `file ${dir}`,
    async send(envelope) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      const label = envelope.label;
      const name = label
        ? `${fileTimestamp(label.at)}-${label.caseNumber !== null ? `case${label.caseNumber}` : 'nocase'}-${label.outboxId}.eml`
        : `${randomBytes(8).toString('hex')}.eml`;
      const finalPath = path.join(dir, name);
      const tmpPath = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
      const fh = await open(tmpPath, 'wx');
      try {
        await fh.writeFile(envelope.raw);
        await fh.sync();
      } catch (err) {
        await fh.close();
        await unlink(tmpPath).catch(() => {});
        throw err;
      }
      await fh.close();
      await rename(tmpPath, finalPath);
      return { response: `written ${finalPath}`, rejected: [] };
    },
    async close() {},
  };
}

/**
 * Sends every outbox row with its own VERP envelope sender (see return-path-token.ts), so a
 * bounce names the row, and through it the recipients, it is about.
 */
export function withReturnPathTokens(inner: MailTransport, supportAddress: string, secret: string): MailTransport {
  return {
    name: inner.name,
    send(envelope) {
      const id = envelope.label?.outboxId;
      return inner.send(id ? { ...envelope, from: returnPathFor(supportAddress, secret, id) } : envelope);
    },
    close: () => inner.close(),
  };
}

/** The transport the configuration asks for: "auto" is SMTP when SMTP_URL is set, else files under <dataDir>/outbox. */
export function createMailTransport(config: Config, logger?: Logger): MailTransport {
  const mode = config.settings.outbox.transport;
  const smtpUrl = config.secrets.smtpUrl;
  const secret = config.settings.replyTokens.enabled ? config.secrets.replyTokenSecret : null;
  const tokens = (t: MailTransport) => (secret ? withReturnPathTokens(t, config.settings.addresses.support, secret) : t);
  if (mode === 'smtp' || (mode === 'auto' && smtpUrl)) {
    if (!smtpUrl) throw Object.assign(new Error('outbox.transport is "smtp" but SMTP_URL is not set'), { code: 'config_invalid' });
    const timeoutMs = config.settings.outbox.smtpTimeoutSeconds * 1000;
    const waitMs = Math.min(30_000, timeoutMs);
    return tokens(createSmtpTransport({
      url: smtpUrl, connectionTimeoutMs: waitMs, greetingTimeoutMs: waitMs, socketTimeoutMs: timeoutMs, ...(logger ? { logger } : {}),
    }));
  }
  return tokens(createFileTransport(path.join(config.paths.dataDir, 'outbox')));
}
