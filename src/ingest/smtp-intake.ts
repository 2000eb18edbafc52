// SMTP/LMTP intake (smtp-server): accepts mail for our own addresses only, enforces the size
// limit while streaming, and hands each message's raw bytes to the IntakeHandler. The reply is
// the acknowledgement: 250 only after the handler committed, 451 when it could not (the sending
// server retries), 550/552 for mail we will never take. I/O: one listening socket, the handler.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Logger } from '../log/logger.js';
import type { IntakeHandler, IntakeSource } from './intake-types.js';
import { isTemporaryIntakeError } from './intake-errors.js';
import { baseAddress } from '../threading/addresses.js';

export { baseAddress };

export interface SmtpIntakeOptions {
  /** Default 127.0.0.1 (local mode). */
  host?: string;
  /** Default 2525; 0 picks a free port (see start()'s result). */
  port?: number;
  /** Addresses we accept mail for (support, escalation, aliases); `local+tag@domain` matches `local@domain`. */
  ownAddresses: readonly string[];
  /** Advertised with SIZE; larger messages get 552. */
  maxMessageBytes: number;
  maxRecipients?: number;
  /** Speak LMTP instead of SMTP: one reply per recipient after DATA. */
  lmtp?: boolean;
  /** STARTTLS is offered only with a certificate; smtp-server's built-in one has expired. */
  tls?: { key: string | Buffer; cert: string | Buffer } | null;
  /** Host name in the greeting; defaults to smtp-server's (os.hostname()). */
  serverName?: string;
  handler: IntakeHandler;
  logger: Logger;
}

type SmtpError = Error & { responseCode: number };

function smtpError(responseCode: number, message: string): SmtpError {
  return Object.assign(new Error(message), { responseCode });
}

export class SmtpIntake {
  private readonly options: SmtpIntakeOptions;
  private readonly log: Logger;
  private readonly own: Set<string>;
  private server: SMTPServer | null = null;
  private boundPort: number | null = null;

  constructor(options: SmtpIntakeOptions) {
    this.options = options;
    this.log = options.logger.child({ intake: options.lmtp ? 'lmtp' : 'smtp' });
    this.own = new Set(options.ownAddresses.map(baseAddress));
  }

  get port(): number | null {
    return this.boundPort;
  }

  /** Resolves once listening, with the address actually bound. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('SMTP intake already started');
    const o = this.options;
    const host = o.host ?? '127.0.0.1';
    const server = new SMTPServer({
      lmtp: o.lmtp ?? false,
      name: o.serverName,
      size: o.maxMessageBytes,
      // 552 for an oversized message whatever onData says; onData also stops buffering it.
      rejectOversized: true,
      maxRecipients: o.maxRecipients,
      authOptional: true,
      disabledCommands: o.tls ? [] : ['STARTTLS'],
      ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
      disableReverseLookup: true,
      logger: false,
      onRcptTo: (address, _session, callback) => {
        if (this.own.has(baseAddress(address.address))) return callback();
        this.log.info({ rcpt: address.address }, 'rejected recipient that is not ours');
        callback(smtpError(550, `5.1.1 <${address.address}>: no such mailbox here`));
      },
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          (reply) => callback(null, reply),
          (error: unknown) => callback(error as Error),
        );
      },
    });
    server.on('error', (error: unknown) => this.log.error({ err: error }, 'SMTP intake server error'));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.server.once('error', onError);
      server.listen(o.port ?? 2525, host, () => {
        server.server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.server.address() as AddressInfo).port;
    this.log.info({ host, port: this.boundPort, lmtp: o.lmtp ?? false }, 'SMTP intake listening');
    return { host, port: this.boundPort };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle clients would otherwise hold close() for smtp-server's closeTimeout (30 s); a
    // message in progress has not been answered 250, so its sender retries.
    for (const connection of server.connections) connection.close();
    await closed;
  }

  /** Reads the message (bounded by the size limit) and gives it to the handler. */
  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string | string[]> {
    const limit = this.options.maxMessageBytes;
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      // Keep reading to the end of DATA (the protocol needs it) but stop keeping bytes.
      if (bytes <= limit) chunks.push(chunk);
    }
    if (bytes > limit || stream.sizeExceeded) {
      throw smtpError(552, `5.3.4 message exceeds fixed maximum message size ${limit}`);
    }
    const envelope = session.envelope;
    const sender = envelope.mailFrom ? envelope.mailFrom.address : '';
    const recipients = envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
    // As the final delivery hop we add Return-Path (RFC 5321 4.4), as an MDA would for IMAP or
    // the pipe intake: classification reads an empty one as automatic mail (bounces).
    const raw = Buffer.concat([Buffer.from(`Return-Path: <${sender}>\r\n`), ...chunks]);
    const source: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: recipients };
    const log = this.log.child({ session: session.id, from: sender, rcpt: recipients, bytes });
    try {
      const result = await this.options.handler.handle(raw, source);
      log.info({ status: result.status, messageId: result.messageId }, 'message accepted');
      return this.reply(`2.0.0 OK: ${result.status} ${result.messageId}`, recipients.length);
    } catch (error) {
      if (isTemporaryIntakeError(error)) {
        log.warn({ err: error }, 'temporary failure, answering 451');
        throw smtpError(451, '4.3.0 temporary failure storing the message, try again later');
      }
      // Any other failure is a bug in handling this message: keep it in quarantine and accept,
      // so the sender does not retry into the same bug; 451 only if even that fails.
      log.error({ err: error }, 'handling the message failed, quarantining it');
      try {
        const kept = await this.options.handler.quarantine(raw, source, error);
        return this.reply(`2.0.0 OK: quarantined ${kept.messageId}`, recipients.length);
      } catch (quarantineError) {
        log.error({ err: quarantineError }, 'quarantining failed, answering 451');
        throw smtpError(451, '4.3.0 temporary failure storing the message, try again later');
      }
    }
  }

  /** LMTP answers once per recipient: the message is stored once for all of them. */
  private reply(text: string, recipients: number): string | string[] {
    return this.options.lmtp ? Array.from({ length: recipients }, () => text) : text;
  }
}
