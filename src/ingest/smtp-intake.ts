// SMTP/LMTP intake (smtp-server): accepts mail for our own addresses only, enforces the size
// limit while streaming, and hands each message's raw bytes to the IntakeHandler. The reply is
// the acknowledgement: 250 only after the handler committed, 451 when it could not (the sending
// server retries), 550/552 for mail we will never take. Also guards the door: a cap on
// connections and on message bytes held in memory (451 past it), and AUTH PLAIN/LOGIN against
// configured credentials for clients outside loopback and the allowed networks.
// I/O: one listening socket, the handler.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Logger } from '../log/logger.js';
import type { IntakeHandler, IntakeSource } from './intake-types.js';
import { isEmptyMessageError, isTemporaryIntakeError } from './intake-errors.js';
import { COLLECT_AFTER_BYTES, collectBeforeLargeMessage } from './full-collection.js';
import { baseAddress } from '../threading/addresses.js';

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
  /** Simultaneous connections; more get 421 and retry (smtp-server's maxClients). Default 20. */
  maxConnections?: number;
  /** Message bytes held across all sessions; a message that would go past it gets 451. Default 32 MiB. */
  maxBytesInFlight?: number;
  /** Runs once when a message's DATA passes COLLECT_AFTER_BYTES (default collectBeforeLargeMessage). */
  beforeLargeMessage?: () => void;
  /** "user:password" (SMTP_INTAKE_AUTH): offer AUTH PLAIN/LOGIN and require it outside loopback and allowedNetworks. Null: no AUTH. */
  auth?: string | null;
  /** CIDRs whose clients may send without AUTH (loopback always may). */
  allowedNetworks?: readonly string[];
  /**
   * Addresses of proxies / load balancers in front of the intake that send a PROXY protocol header:
   * the client address (AUTH and network checks) is then the one the header names.
   */
  proxyFrom?: readonly string[];
  handler: IntakeHandler;
  logger: Logger;
}

type SmtpError = Error & { responseCode: number };

const DEFAULT_MAX_CONNECTIONS = 20;
const DEFAULT_MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;

/** The configuration refuses to start (open relay risk, bad credentials or networks). */
export class SmtpIntakeConfigError extends Error {
  readonly code = 'smtp_intake_config';
}

/** An IPv4-mapped IPv6 address (::ffff:1.2.3.4) as the IPv4 address it is. */
function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export function isLoopbackAddress(address: string): boolean {
  const a = plainAddress(address.trim().toLowerCase());
  return /^127\./.test(a) || a === '::1' || a === 'localhost';
}

/** Parses a CIDR list ("10.0.0.0/8", "2001:db8::/32", a bare address); throws naming the bad entry. */
export function networkList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefixText, extra] = cidr.trim().split('/');
    const family = isIP(address);
    const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
      throw new SmtpIntakeConfigError(`smtpIntake.allowedNetworks: "${cidr}" is not a CIDR (e.g. 10.0.0.0/8)`);
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/**
 * Why listening on `host` would take mail from anyone (beyond loopback with neither AUTH nor
 * allowed networks), or null. `casemail start` asks before opening the database.
 */
export function openRelayProblem(host: string, auth: string | null, allowedNetworks: readonly string[]): string | null {
  if (isLoopbackAddress(host) || auth || allowedNetworks.length > 0) return null;
  return `SMTP intake on ${host} would accept mail from any host: set SMTP_INTAKE_AUTH (user:password) `
    + 'or smtpIntake.allowedNetworks (e.g. ["10.0.0.0/8"]), or listen on 127.0.0.1';
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compares digests (equal length), so neither the length nor the first difference shows in the timing. */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

function smtpError(responseCode: number, message: string): SmtpError {
  return Object.assign(new Error(message), { responseCode });
}

/** A session's share of the bytes-in-flight budget. */
interface Budget {
  /** Reserves `bytes` more; false (nothing reserved) when that would pass the budget. */
  hold(bytes: number): boolean;
  /** Gives back everything this session holds. */
  releaseAll(): void;
}

/** From this size on, a message's bytes are held in shared memory (see joinMessage). */
export const SHARED_MIN_BYTES = 64 * 1024;

/**
 * The message's bytes in one Buffer. A large message's Buffer is backed by a SharedArrayBuffer:
 * the understanding thread reads those very bytes (understand-pool.ts) instead of a 25 MB copy
 * of its own, while the handler keeps them for storing. Nothing writes to a message's bytes.
 */
export function joinMessage(parts: readonly Buffer[]): Buffer {
  const length = parts.reduce((n, p) => n + p.length, 0);
  if (length < SHARED_MIN_BYTES) return Buffer.concat(parts, length);
  const raw = Buffer.from(new SharedArrayBuffer(length));
  let at = 0;
  for (const p of parts) at += p.copy(raw, at);
  return raw;
}

/** The SIZE= the client declared on MAIL FROM (RFC 1870), 0 when none. */
function declaredSize(address: SMTPServerAddress | false | undefined): number {
  const args = address ? (address.args as Record<string, string> | false) : false;
  const size = args ? Number(args.SIZE) : 0;
  return Number.isFinite(size) && size > 0 ? size : 0;
}

export class SmtpIntake {
  private readonly options: SmtpIntakeOptions;
  private readonly log: Logger;
  private readonly own: Set<string>;
  private readonly credentials: { user: string; password: string } | null;
  private readonly allowed: BlockList;
  private readonly maxBytesInFlight: number;
  private server: SMTPServer | null = null;
  private boundPort: number | null = null;
  private bytesHeld = 0;

  /** Throws SmtpIntakeConfigError for malformed credentials or networks, or a host beyond loopback with neither AUTH nor allowedNetworks. */
  constructor(options: SmtpIntakeOptions) {
    this.options = options;
    this.log = options.logger.child({ intake: options.lmtp ? 'lmtp' : 'smtp' });
    this.own = new Set(options.ownAddresses.map(baseAddress));
    this.maxBytesInFlight = options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT;
    this.allowed = networkList(options.allowedNetworks ?? []);
    this.credentials = null;
    if (options.auth) {
      const colon = options.auth.indexOf(':');
      if (colon <= 0 || colon === options.auth.length - 1) throw new SmtpIntakeConfigError('SMTP_INTAKE_AUTH: expected "user:password"');
      this.credentials = { user: options.auth.slice(0, colon), password: options.auth.slice(colon + 1) };
    }
    const exposed = openRelayProblem(options.host ?? '127.0.0.1', options.auth ?? null, options.allowedNetworks ?? []);
    if (exposed) throw new SmtpIntakeConfigError(exposed);
  }

  get port(): number | null {
    return this.boundPort;
  }

  /** Message bytes currently held by sessions (received or being received, not yet answered). */
  get bytesInFlight(): number {
    return this.bytesHeld;
  }

  /** Clients on loopback or in allowedNetworks may send without AUTH; everyone may when no credentials are set. */
  private trusted(remoteAddress: string): boolean {
    if (isLoopbackAddress(remoteAddress)) return true;
    const a = plainAddress(remoteAddress);
    const family = isIP(a);
    return family !== 0 && this.allowed.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** Reserves `bytes` of the in-flight budget; false (nothing reserved) when it would go past it. */
  private reserve(bytes: number): boolean {
    if (bytes > 0 && this.bytesHeld + bytes > this.maxBytesInFlight) return false;
    this.bytesHeld += bytes;
    return true;
  }

  private busy(): SmtpError {
    return smtpError(451, '4.3.1 too much mail in progress, try again later');
  }

  /** Resolves once listening, with the address actually bound. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('SMTP intake already started');
    const o = this.options;
    const host = o.host ?? '127.0.0.1';
    const disabled = [...(o.tls ? [] : ['STARTTLS']), ...(this.credentials ? [] : ['AUTH'])];
    const server = new SMTPServer({
      lmtp: o.lmtp ?? false,
      name: o.serverName,
      size: o.maxMessageBytes,
      // 552 for an oversized message whatever onData says; onData also stops buffering it.
      rejectOversized: true,
      maxRecipients: o.maxRecipients,
      maxClients: o.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      // Who must authenticate is decided per client in onMailFrom; without credentials AUTH is not offered at all.
      authOptional: true,
      authMethods: ['PLAIN', 'LOGIN'],
      disabledCommands: disabled,
      ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : {}),
      disableReverseLookup: true,
      ...(o.proxyFrom && o.proxyFrom.length > 0 ? { useProxy: [...o.proxyFrom] } : {}),
      logger: false,
      onAuth: (auth: SMTPServerAuthentication, session, callback) => {
        const c = this.credentials;
        // Both compared every time: a wrong user name takes as long as a wrong password.
        const userOk = c !== null && sameSecret(auth.username ?? '', c.user);
        const passwordOk = c !== null && sameSecret(auth.password ?? '', c.password);
        if (userOk && passwordOk) return callback(null, { user: auth.username });
        this.log.warn({ remote: session.remoteAddress, user: auth.username }, 'SMTP AUTH failed');
        callback(smtpError(535, '5.7.8 authentication credentials invalid'));
      },
      onMailFrom: (address, session, callback) => {
        if (this.credentials && !session.user && !this.trusted(session.remoteAddress)) {
          return callback(smtpError(530, '5.7.0 authentication required'));
        }
        if (!this.credentials && !this.trusted(session.remoteAddress) && (o.allowedNetworks ?? []).length > 0) {
          return callback(smtpError(550, '5.7.1 client host not in the allowed networks'));
        }
        // A declared SIZE that does not fit now is turned away before the bytes are sent.
        const declared = declaredSize(address);
        if (declared > 0 && declared <= o.maxMessageBytes && this.bytesHeld + declared > this.maxBytesInFlight) {
          return callback(this.busy());
        }
        callback();
      },
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

  /** Whether the socket is accepting connections (readiness asks). */
  get listening(): boolean {
    return this.server?.server.listening ?? false;
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

  /**
   * Reads the message (bounded by the size limit and the bytes-in-flight budget) and gives it to
   * the handler. The budget is taken at DATA start for the declared SIZE, grows while streaming,
   * and is given back once the message is answered.
   */
  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string | string[]> {
    let held = 0;
    const budget: Budget = {
      hold: (bytes) => {
        if (!this.reserve(bytes)) return false;
        held += bytes;
        return true;
      },
      releaseAll: () => {
        this.bytesHeld -= held;
        held = 0;
      },
    };
    try {
      return await this.receiveHeld(stream, session, budget);
    } finally {
      budget.releaseAll();
    }
  }

  private async receiveHeld(stream: SMTPServerDataStream, session: SMTPServerSession, budget: Budget): Promise<string | string[]> {
    const hold = budget.hold;
    const limit = this.options.maxMessageBytes;
    const declared = Math.min(declaredSize(session.envelope.mailFrom), limit);
    let reserved = 0;
    let overBudget = !hold(declared);
    if (!overBudget) reserved = declared;
    const chunks: Buffer[] = [];
    let bytes = 0;
    let dropped = false;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      // Keep reading to the end of DATA (the protocol needs it) but stop keeping bytes.
      if (overBudget || dropped) continue;
      if (bytes > limit) {
        // Refused (552) whatever follows: what it held goes back to the sessions that can use it.
        dropped = true;
        chunks.length = 0;
        budget.releaseAll();
        continue;
      }
      if (bytes > reserved) {
        if (!hold(bytes - reserved)) {
          // This message gets 451 and keeps nothing: its bytes go back at once, not at the end of
          // its DATA, so concurrent senders without SIZE do not all run out of budget together
          // (each would get 451 and send again, the same way, 100 ms later).
          overBudget = true;
          chunks.length = 0;
          budget.releaseAll();
          this.log.debug({ session: session.id, bytes, inFlight: this.bytesHeld, max: this.maxBytesInFlight }, 'over the bytes-in-flight budget: the rest of DATA is read and dropped, 451 at its end');
          continue;
        }
        reserved = bytes;
      }
      if (bytes >= COLLECT_AFTER_BYTES && bytes - chunk.length < COLLECT_AFTER_BYTES) (this.options.beforeLargeMessage ?? collectBeforeLargeMessage)();
      chunks.push(chunk);
    }
    if (bytes > limit || stream.sizeExceeded) {
      throw smtpError(552, `5.3.4 message exceeds fixed maximum message size ${limit}`);
    }
    if (overBudget) {
      this.log.warn({ session: session.id, bytes, inFlight: this.bytesHeld, max: this.maxBytesInFlight }, 'too many message bytes in flight, answering 451');
      throw this.busy();
    }
    const envelope = session.envelope;
    const sender = envelope.mailFrom ? envelope.mailFrom.address : '';
    const recipients = envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase());
    // As the final delivery hop we add Return-Path (RFC 5321 4.4), as an MDA would for IMAP or
    // the pipe intake: classification reads an empty one as automatic mail (bounces).
    const raw = joinMessage([Buffer.from(`Return-Path: <${sender}>\r\n`), ...chunks]);
    // The chunks are garbage now: not kept alive by this frame while the message is handled.
    chunks.length = 0;
    const source: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: recipients };
    const log = this.log.child({ session: session.id, from: sender, rcpt: recipients, bytes });
    try {
      const result = await this.options.handler.handle(raw, source);
      log.info({ status: result.status, messageId: result.messageId }, 'message accepted');
      return this.reply(`2.0.0 OK: ${result.status} ${result.messageId}`, recipients.length);
    } catch (error) {
      if (isEmptyMessageError(error)) {
        // Nothing to keep and nothing a retry would change: a permanent refusal.
        log.info('empty message refused');
        throw smtpError(550, '5.6.0 empty message refused: no header fields and no body');
      }
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
