// Test SMTP sink: a real smtp-server on 127.0.0.1 (ephemeral port, kept across restart()) that
// collects every accepted message with its envelope and raw bytes. It can answer 4xx/5xx to
// simulate temporary or permanent failures, and be stopped and restarted on the same port to
// simulate "SMTP down for a while". Waiting is event-driven: waitFor() resolves on arrival.
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface SinkMessage {
  mailFrom: string;
  /** RCPT TO addresses as the client sent them. */
  rcptTo: string[];
  raw: Buffer;
  receivedAt: Date;
}

/** Answer `code` at `stage` for the next `times` transactions (all of them when omitted). */
export interface SinkFailure {
  code: number;
  message?: string;
  stage?: 'mail' | 'rcpt' | 'data';
  times?: number;
}

export interface SmtpSinkOptions {
  failure?: SinkFailure | null;
  /** Called for every accepted message, after it is recorded (a scripted correspondent answers here). */
  onMessage?: (message: SinkMessage) => void;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  readonly messages: readonly SinkMessage[];
  /** Transactions answered with a simulated failure so far. */
  readonly rejections: number;
  /** Resolves with all messages once `count` have arrived or `predicate` holds for them. */
  waitFor(condition: number | ((messages: readonly SinkMessage[]) => boolean), timeoutMs?: number): Promise<SinkMessage[]>;
  setFailure(failure: SinkFailure | null): void;
  clear(): void;
  /** Stops listening and drops open connections (pooled clients see the server go away). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_WAIT_MS = 10_000;

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * A client that dies mid-session (the crash test SIGKILLs the service) resets its connection;
 * smtp-server reports that as an 'error' event, which would otherwise crash the test process.
 */
function listenForErrors(server: SMTPServer): SMTPServer {
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') console.warn(`SMTP sink: ${err.message}`);
  });
  return server;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const events = new EventEmitter();
  const messages: SinkMessage[] = [];
  let failure: SinkFailure | null = options.failure ?? null;
  let rejections = 0;
  let port = 0;

  // Decides whether this transaction fails at `stage`; counts a failed transaction once.
  const failAt = (stage: 'mail' | 'rcpt' | 'data'): Error | null => {
    if (!failure || (failure.stage ?? 'data') !== stage) return null;
    const err = smtpError(failure.code, failure.message ?? `simulated ${failure.code} failure`);
    rejections += 1;
    if (failure.times !== undefined) {
      failure.times -= 1;
      if (failure.times <= 0) failure = null;
    }
    events.emit('rejected');
    return err;
  };

  const createServer = (): SMTPServer => listenForErrors(new SMTPServer({
    // The built-in STARTTLS certificate has expired; tests talk plain SMTP on loopback.
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    onMailFrom(_address, _session, callback) {
      callback(failAt('mail'));
    },
    onRcptTo(_address, _session, callback) {
      callback(failAt('rcpt'));
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () => {
        const err = failAt('data');
        if (err) return callback(err);
        const envelope = session.envelope;
        const message: SinkMessage = {
          mailFrom: envelope.mailFrom ? envelope.mailFrom.address : '',
          rcptTo: envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks),
          receivedAt: new Date(),
        };
        messages.push(message);
        callback(null);
        events.emit('message', message);
        options.onMessage?.(message);
      });
    },
  }));

  let server = createServer();
  const listen = async (): Promise<void> => {
    server.listen(port, HOST);
    await once(server.server, 'listening');
    port = (server.server.address() as AddressInfo).port;
  };
  await listen();
  let listening = true;

  const sink: SmtpSink = {
    host: HOST,
    get port() {
      return port;
    },
    messages,
    get rejections() {
      return rejections;
    },
    waitFor(condition, timeoutMs = DEFAULT_WAIT_MS) {
      const done = typeof condition === 'number'
        ? (list: readonly SinkMessage[]) => list.length >= condition
        : condition;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(messages)) return;
          cleanup();
          resolve([...messages]);
        };
        const timer = setTimeout(() => {
          cleanup();
          const what = typeof condition === 'number' ? `${condition} message(s)` : 'the expected messages';
          reject(new Error(`SMTP sink: timed out after ${timeoutMs} ms waiting for ${what}; have ${messages.length}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          events.off('message', check);
        };
        events.on('message', check);
        check();
      });
    },
    setFailure(next) {
      failure = next ? { ...next } : null;
    },
    clear() {
      messages.length = 0;
      rejections = 0;
    },
    async stop() {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() would otherwise wait up to closeTimeout for idle pooled clients to leave.
      for (const connection of server.connections) connection.close();
      await closed;
    },
    async restart() {
      await sink.stop();
      server = createServer();
      await listen();
      listening = true;
    },
  };
  return sink;
}
