// The SMTP intake's door: a cap on simultaneous connections (421 past it), a cap on message bytes
// held in memory across sessions (451 past it, at MAIL FROM for a declared SIZE, else at the end
// of DATA), AUTH PLAIN/LOGIN only when credentials are configured and then required from clients
// outside loopback and the allowed networks, and no start on a public address without either.
// A message passing 8 MiB has the receiving thread collect its garbage first (once per message).
// The handler is the in-memory RecordingHandler (test/support): these are protocol behaviours.
// Clients "outside loopback" come through the PROXY protocol from 127.0.0.2, as through a load
// balancer: every test address stays on this machine.
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import nodemailer from 'nodemailer';
import { SmtpIntake, SmtpIntakeConfigError, type SmtpIntakeOptions } from '../../src/ingest/smtp-intake.js';
import { silentLogger } from '../../src/log/logger.js';
import { RecordingHandler } from '../support/recording-intake.js';
import { runCli } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const CREDENTIALS = 'relay-user:s3cret:with-colon';
const PROXY_PEER = '127.0.0.2';

const intakes: SmtpIntake[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(intakes.splice(0).map((intake) => intake.stop()));
});

async function startIntake(handler: RecordingHandler, extra: Partial<SmtpIntakeOptions> = {}): Promise<{ port: number; intake: SmtpIntake }> {
  const intake = new SmtpIntake({
    host: '127.0.0.1', port: 0, ownAddresses: [SUPPORT], maxMessageBytes: 1024 * 1024, handler, logger: silentLogger, ...extra,
  });
  intakes.push(intake);
  const { port } = await intake.start();
  return { port, intake };
}

function message(subject: string, bytes = 200): Buffer {
  const head = `From: customer@example.com\r\nTo: ${SUPPORT}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.com>\r\n\r\n`;
  const line = 'x'.repeat(78) + '\r\n';
  return Buffer.from(head + line.repeat(Math.max(1, Math.ceil((bytes - head.length) / line.length))));
}

function transport(port: number, auth?: { user: string; pass: string }) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, ...(auth ? { auth } : {}) });
}

function send(port: number, raw: Buffer, auth?: { user: string; pass: string }) {
  return transport(port, auth).sendMail({ envelope: { from: 'customer@example.com', to: [SUPPORT] }, raw });
}

async function refusal(p: Promise<unknown>): Promise<{ responseCode?: number; response?: string }> {
  try {
    await p;
  } catch (error) {
    return error as { responseCode?: number; response?: string };
  }
  throw new Error('expected the server to refuse');
}

interface RawSession {
  /** Sends a line (null: only wait) and resolves with the next complete reply. */
  send(line: string | null): Promise<string>;
  /** Writes without waiting for a reply (part of DATA). */
  write(text: string): void;
  greeting: string;
}

/** A raw SMTP dialogue; with `client`, it comes through the PROXY protocol from 127.0.0.2 as that client address. */
async function rawSession(port: number, client?: string): Promise<RawSession> {
  const socket: Socket = connect({ port, host: '127.0.0.1', ...(client ? { localAddress: PROXY_PEER } : {}) });
  sockets.push(socket);
  socket.setEncoding('utf8');
  let buffer = '';
  const waiting: ((reply: string) => void)[] = [];
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer); m; m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer)) {
      buffer = buffer.slice(m[0].length);
      waiting.shift()?.(m[0]);
    }
  });
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const greeted = next();
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  if (client) socket.write(`PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n`);
  const greeting = await greeted;
  return {
    greeting,
    send(line) {
      const reply = next();
      if (line !== null) socket.write(`${line}\r\n`);
      return reply;
    },
    write(text) {
      socket.write(text);
    },
  };
}

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

describe('SMTP intake limits', () => {
  it('answers 421 to connections past maxConnections and serves the ones it has', async () => {
    const handler = new RecordingHandler();
    const { port } = await startIntake(handler, { maxConnections: 2 });
    const first = await rawSession(port);
    const second = await rawSession(port);
    expect(first.greeting).toMatch(/^220 /);
    expect(second.greeting).toMatch(/^220 /);
    const third = await rawSession(port);
    expect(third.greeting).toMatch(/^421 /);
    expect(await first.send('EHLO client.example')).toMatch(/^250/m);
  });

  it('answers 451 while the bytes in flight would pass maxBytesInFlight: at MAIL FROM for a declared SIZE, else after DATA', async () => {
    const handler = new RecordingHandler();
    const { port, intake } = await startIntake(handler, { maxBytesInFlight: 100_000 });
    const release = handler.hold();
    // A 60 kB message is received and held by the (slow) handler.
    const first = send(port, message('first', 60_000));
    await handler.waitForCalls(1);
    expect(intake.bytesInFlight).toBeGreaterThanOrEqual(60_000);

    // A client that declares its size is turned away before sending the bytes.
    const declared = await rawSession(port);
    await declared.send('EHLO client.example');
    expect(await declared.send('MAIL FROM:<customer@example.com> SIZE=60000')).toMatch(/^451 4\.3\.1 /);

    // One that does not is told at the end of DATA, and nothing of it reaches the handler.
    const undeclared = await rawSession(port);
    await undeclared.send('EHLO client.example');
    expect(await undeclared.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);
    expect(await undeclared.send(`RCPT TO:<${SUPPORT}>`)).toMatch(/^250 /);
    expect(await undeclared.send('DATA')).toMatch(/^354 /);
    expect(await undeclared.send(`${message('second', 60_000).toString('latin1')}\r\n.`)).toMatch(/^451 4\.3\.1 /);
    expect(handler.calls).toHaveLength(1);

    release();
    expect((await first).response).toMatch(/^250 /);
    expect(intake.bytesInFlight).toBe(0);
    // Room again: the retried message goes through.
    expect((await send(port, message('second again', 60_000))).response).toMatch(/^250 /);
    expect(intake.bytesInFlight).toBe(0);
  });
});

describe('SMTP intake bytes in flight', () => {
  it('gives back the bytes of a message that went over the budget at once, not at the end of its DATA', async () => {
    const handler = new RecordingHandler();
    const records: { msg: string; session?: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line) as { msg: string }) });
    const { port, intake } = await startIntake(handler, { maxBytesInFlight: 100_000, logger });
    const opened = async () => {
      const s = await rawSession(port);
      await s.send('EHLO client.example');
      expect(await s.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);
      expect(await s.send(`RCPT TO:<${SUPPORT}>`)).toMatch(/^250 /);
      expect(await s.send('DATA')).toMatch(/^354 /);
      return s;
    };
    // Two senders without SIZE, each part-way through 60 kB: the second goes over the budget.
    const first = await opened();
    const firstBody = message('first', 60_000).toString('latin1');
    const firstReply = first.send(null);
    first.write(`${firstBody}\r\n`);
    await vi.waitFor(() => expect(intake.bytesInFlight).toBeGreaterThanOrEqual(60_000));
    const second = await opened();
    const secondReply = second.send(null);
    const secondBody = message('second', 60_000).toString('latin1');
    // 30 kB fit and are held; the rest goes over.
    second.write(secondBody.slice(0, 30_000));
    await vi.waitFor(() => expect(intake.bytesInFlight).toBeGreaterThanOrEqual(firstBody.length + 29_000));
    second.write(`${secondBody.slice(30_000)}\r\n`);
    await vi.waitFor(() => expect(records.some((r) => /over the bytes-in-flight budget/.test(r.msg))).toBe(true));
    // The second still has bytes to send and no answer, yet holds nothing: only the first's bytes are held.
    expect(intake.bytesInFlight).toBeLessThanOrEqual(firstBody.length + 2);

    first.write('.\r\n');
    expect(await firstReply).toMatch(/^250 /);
    second.write('.\r\n');
    expect(await secondReply).toMatch(/^451 4\.3\.1 /);
    expect(intake.bytesInFlight).toBe(0);
    expect(handler.calls).toHaveLength(1);
  });
});

describe('SMTP intake before a large message', () => {
  it('runs beforeLargeMessage (the full collection, by default) once while a message passes 8 MiB, before it is handled; not for a small one', async () => {
    const handler = new RecordingHandler();
    const events: string[] = [];
    handler.on('handled', () => events.push('handled'));
    const { port } = await startIntake(handler, { maxMessageBytes: 16 * 1024 * 1024, beforeLargeMessage: () => events.push(`large, ${handler.calls.length} handled`) });
    await send(port, message('small'));
    await send(port, message('large', 9 * 1024 * 1024));
    expect(handler.calls).toHaveLength(2);
    expect(events).toEqual(['handled', 'large, 1 handled', 'handled']);
  });
});

describe('SMTP intake AUTH', () => {
  it('does not advertise AUTH without credentials, and refuses the command', async () => {
    const { port } = await startIntake(new RecordingHandler());
    const s = await rawSession(port);
    expect(await s.send('EHLO client.example')).not.toMatch(/AUTH/);
    expect(await s.send(`AUTH PLAIN ${plain('a', 'b')}`)).toMatch(/^50[02] /);
  });

  it('with credentials: offers AUTH PLAIN LOGIN, accepts the right ones (PLAIN and LOGIN) and answers 535 to wrong ones', async () => {
    const handler = new RecordingHandler();
    const { port } = await startIntake(handler, { auth: CREDENTIALS });
    const s = await rawSession(port);
    expect(await s.send('EHLO client.example')).toMatch(/AUTH PLAIN LOGIN/);

    const [user, ...rest] = CREDENTIALS.split(':');
    const pass = rest.join(':');
    expect((await send(port, message('plain auth'), { user: user!, pass })).response).toMatch(/^250 /);
    const login = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user: user!, pass, method: 'LOGIN' } });
    expect((await login.sendMail({ envelope: { from: 'customer@example.com', to: [SUPPORT] }, raw: message('login auth') })).response).toMatch(/^250 /);
    expect((await refusal(send(port, message('wrong password'), { user: user!, pass: 'guess' }))).responseCode).toBe(535);
    expect((await refusal(send(port, message('wrong user'), { user: 'someone', pass }))).responseCode).toBe(535);
    expect(handler.calls).toHaveLength(2);
  });

  it('requires AUTH from a client outside loopback and the allowed networks; loopback and allowed clients need none', async () => {
    const handler = new RecordingHandler();
    const { port } = await startIntake(handler, { auth: CREDENTIALS, allowedNetworks: ['203.0.113.0/24'], proxyFrom: [PROXY_PEER] });

    const outsider = await rawSession(port, '198.51.100.9');
    expect(await outsider.send('EHLO outside.example')).toMatch(/AUTH PLAIN LOGIN/);
    expect(await outsider.send('MAIL FROM:<customer@example.com>')).toMatch(/^530 5\.7\.0 /);
    const [user, ...rest] = CREDENTIALS.split(':');
    expect(await outsider.send(`AUTH PLAIN ${plain(user!, rest.join(':'))}`)).toMatch(/^235 /);
    expect(await outsider.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);

    const allowed = await rawSession(port, '203.0.113.7');
    await allowed.send('EHLO partner.example');
    expect(await allowed.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);

    // Loopback (the local MTA) sends without AUTH.
    expect((await send(port, message('from loopback'))).response).toMatch(/^250 /);
  });

  it('without credentials, refuses clients outside loopback and the allowed networks', async () => {
    const { port } = await startIntake(new RecordingHandler(), { allowedNetworks: ['203.0.113.0/24'], proxyFrom: [PROXY_PEER] });
    const outsider = await rawSession(port, '198.51.100.9');
    await outsider.send('EHLO outside.example');
    expect(await outsider.send('MAIL FROM:<customer@example.com>')).toMatch(/^550 5\.7\.1 /);
    const allowed = await rawSession(port, '203.0.113.7');
    await allowed.send('EHLO partner.example');
    expect(await allowed.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);
  });

  it('refuses to listen beyond loopback with neither AUTH nor allowed networks, and rejects malformed settings', () => {
    const base = { port: 0, ownAddresses: [SUPPORT], maxMessageBytes: 1000, handler: new RecordingHandler(), logger: silentLogger };
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'mail.example.com']) {
      expect(() => new SmtpIntake({ ...base, host })).toThrow(/would accept mail from any host/);
    }
    // Constructing only: nothing listens.
    expect(() => new SmtpIntake({ ...base, host: '0.0.0.0', auth: CREDENTIALS })).not.toThrow();
    expect(() => new SmtpIntake({ ...base, host: '0.0.0.0', allowedNetworks: ['10.0.0.0/8'] })).not.toThrow();
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(() => new SmtpIntake({ ...base, host })).not.toThrow();
    expect(() => new SmtpIntake({ ...base, allowedNetworks: ['10.0.0.0/33'] })).toThrow(SmtpIntakeConfigError);
    expect(() => new SmtpIntake({ ...base, allowedNetworks: ['not-a-network'] })).toThrow(/not a CIDR/);
    expect(() => new SmtpIntake({ ...base, auth: 'no-colon' })).toThrow(/user:password/);
  });

  it('`casemail start` on a public address without AUTH or allowed networks exits with a clear error', async () => {
    const dir = tempDir('casemail-relay-');
    const config = path.join(dir, 'casemail.json');
    writeFileSync(config, JSON.stringify({ dataDir: dir, smtpIntake: { host: '0.0.0.0', port: 0 }, logLevel: 'silent' }));
    const r = await runCli(['start'], { CASEMAIL_CONFIG: config });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to start: SMTP intake on 0\.0\.0\.0 would accept mail from any host: set SMTP_INTAKE_AUTH/);
  });
});
