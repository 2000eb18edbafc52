// A pool of SMTP connections for complete raw messages: up to maxConnections of nodemailer's
// SMTPConnection, each carrying up to maxMessages before it says QUIT and is replaced. It replaces
// nodemailer's pooled transport, whose sendMail wraps every raw message in a MimeNode (a new
// Message-ID and boundary from crypto, a stream pipeline) before the connection streams it; here
// the raw bytes go straight to SMTPConnection.send. Measured, 5 KB messages to a local sink: 0.63 ms of
// CPU per mail through sendMail, 0.24 ms here (docs/operations.md, "Where the time goes").
// What the pooled transport did and this keeps: a connection the server closed while idle is
// dropped, and a message that connection could not start is sent again at once on a new one (not
// a byte of it was sent, so it cannot arrive twice); a refused envelope or message leaves the
// connection usable after RSET; any other failure closes it. Connecting includes the
// opportunistic STARTTLS and the AUTH of the URL's credentials (SMTPConnection's own).
// I/O: sockets to one SMTP server.
import { Readable } from 'node:stream';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Logger } from '../log/logger.js';

export interface SmtpPoolOptions {
  /** smtp://user:pass@host:port or smtps://…; credentials URL-encoded; query options as nodemailer reads them. */
  url: string;
  maxConnections: number;
  /** Messages one connection carries before it is replaced. */
  maxMessages: number;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  logger?: Logger | undefined;
}

export interface PoolSendResult {
  /** The server's reply to the message. */
  response: string;
  /** Recipients the server refused while it accepted the others. */
  rejected: string[];
}

type Connection = InstanceType<typeof SMTPConnection>;
type SendError = Error & { code?: string; responseCode?: number };

interface Slot {
  connection: Connection;
  messages: number;
  /** Ended by the server or by an error: never handed out again. */
  dead: boolean;
}

/** Errors that say the connection went away, not that the server refused something. */
const CONNECTION_GONE = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT']);

export class SmtpPool {
  private readonly options: SmtpPoolOptions;
  private readonly connectionOptions: ReturnType<typeof parseConnectionUrl>;
  private readonly idle: Slot[] = [];
  private readonly waiting: { resolve: (slot: Slot) => void; reject: (err: unknown) => void }[] = [];
  /** Connections open or opening, idle or busy. */
  private open = 0;
  private closed = false;

  constructor(options: SmtpPoolOptions) {
    if (!Number.isInteger(options.maxConnections) || options.maxConnections < 1) throw new RangeError(`SMTP pool: maxConnections must be a whole number ≥ 1, got ${options.maxConnections}`);
    this.options = options;
    this.connectionOptions = {
      ...parseConnectionUrl(options.url),
      connectionTimeout: options.connectionTimeoutMs,
      greetingTimeout: options.greetingTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      logger: false,
    };
  }

  /** Sends one message; rejects with SMTPConnection's error (code, responseCode, response) when it was not accepted. */
  async send(envelope: { from: string; to: readonly string[] }, raw: Buffer): Promise<PoolSendResult> {
    for (let attempt = 1; ; attempt++) {
      const slot = await this.acquire();
      const reused = slot.messages > 0;
      // A stream, not the Buffer: its readableDidRead tells whether any byte of the message went out.
      const message = Readable.from([raw], { objectMode: false });
      try {
        const info = await new Promise<PoolSendResult>((resolve, reject) => {
          // SMTPConnection keeps and mutates the envelope object: each send gets its own.
          slot.connection.send({ from: envelope.from, to: [...envelope.to] }, message, (err, sent) => {
            if (err || !sent) reject(err ?? new Error('SMTP send ended without a result'));
            else resolve({ response: String(sent.response ?? ''), rejected: sent.rejected ?? [] });
          });
        });
        slot.messages += 1;
        this.release(slot);
        return info;
      } catch (err) {
        slot.messages += 1;
        const e = err as SendError;
        if (!slot.dead && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') && e.responseCode !== 421) {
          // The server refused this message; the session is fine once reset.
          slot.connection.reset((resetErr) => (resetErr ? this.discard(slot) : this.release(slot)));
          throw err;
        }
        this.discard(slot);
        if (reused && attempt === 1 && !message.readableDidRead && CONNECTION_GONE.has(e.code ?? '')) {
          // The server had closed this idle connection: nothing of the message was sent, so it
          // goes once more on a fresh connection instead of waiting for the outbox's retry.
          this.options.logger?.info({ err: e.message }, 'pooled SMTP connection was closed by the server; sending on a new one');
          continue;
        }
        throw err;
      }
    }
  }

  /** Says QUIT on idle connections, closes busy ones as their sends end, and refuses new sends. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(closedError());
    for (const slot of this.idle.splice(0)) this.quit(slot);
  }

  private acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(closedError());
    const slot = this.idle.pop();
    if (slot) return Promise.resolve(slot);
    if (this.open < this.options.maxConnections) return this.connect();
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private connect(): Promise<Slot> {
    this.open += 1;
    const connection = new SMTPConnection(this.connectionOptions);
    const slot: Slot = { connection, messages: 0, dead: false };
    return new Promise<Slot>((resolve, reject) => {
      let opening = true;
      // While opening, SMTPConnection reports a failure through 'error' or 'end' (closed before the
      // greeting: through the callback) and the connect fails. Afterwards the server ending an idle
      // connection, or a socket error between sends, only retires it; a send in flight hears the
      // same error through its own callback.
      const gone = (err: unknown) => {
        if (!opening) return this.retire(slot);
        opening = false;
        this.discard(slot);
        reject(err);
      };
      const ready = () => {
        if (!opening) return;
        opening = false;
        resolve(slot);
      };
      connection.on('error', (err: SendError) => {
        this.options.logger?.debug({ err: err.message, code: err.code }, 'pooled SMTP connection error');
        gone(err);
      });
      connection.once('end', () => gone(Object.assign(new Error('the SMTP server closed the connection while it was opening'), { code: 'ECONNECTION' })));
      connection.connect((err) => {
        if (err) return gone(err);
        const auth = this.connectionOptions.auth;
        if (!auth || (!auth.user && !auth.pass)) return ready();
        connection.login({ user: auth.user ?? '', pass: auth.pass ?? '' }, (loginErr) => (loginErr ? gone(loginErr) : ready()));
      });
    });
  }

  /** Back to the pool (or to the longest waiter); replaced once it carried maxMessages. */
  private release(slot: Slot): void {
    if (slot.dead) return;
    if (this.closed || slot.messages >= this.options.maxMessages) {
      this.quit(slot);
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(slot);
    else this.idle.push(slot);
  }

  /** The connection is gone: its place goes to a waiter, who opens a new one. */
  private retire(slot: Slot): void {
    if (slot.dead) return;
    slot.dead = true;
    this.open -= 1;
    const at = this.idle.indexOf(slot);
    if (at >= 0) this.idle.splice(at, 1);
    const waiter = this.waiting.shift();
    if (waiter) this.connect().then(waiter.resolve, waiter.reject);
  }

  private discard(slot: Slot): void {
    this.retire(slot);
    slot.connection.close();
  }

  private quit(slot: Slot): void {
    this.retire(slot);
    slot.connection.quit();
  }
}

function closedError(): Error {
  return Object.assign(new Error('the SMTP pool is closed'), { code: 'ECONNECTION' });
}
