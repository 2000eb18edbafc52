// SMTP/LMTP intake against a real SMTP client (nodemailer) on loopback. The handler is the
// in-memory RecordingHandler from test/support: the real database handler is covered by the
// end-to-end tests. Protocol details nodemailer hides (EHLO SIZE, MAIL FROM SIZE=) are checked
// over a raw socket.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { SmtpIntake, type SmtpIntakeOptions } from '../../src/ingest/smtp-intake.js';
import { baseAddress } from '../../src/threading/addresses.js';
import { silentLogger } from '../../src/log/logger.js';
import { RecordingHandler, headerOf } from '../support/recording-intake.js';

const SUPPORT = 'support@casemail.localhost';
const ESCALATION = 'escalation@casemail.localhost';
const LIMIT = 64 * 1024;

const intakes: SmtpIntake[] = [];

afterEach(async () => {
  await Promise.all(intakes.splice(0).map((intake) => intake.stop()));
});

async function startIntake(handler: RecordingHandler, extra: Partial<SmtpIntakeOptions> = {}): Promise<number> {
  const intake = new SmtpIntake({
    host: '127.0.0.1',
    port: 0,
    ownAddresses: [SUPPORT, ESCALATION],
    maxMessageBytes: LIMIT,
    handler,
    logger: silentLogger,
    ...extra,
  });
  intakes.push(intake);
  const { port } = await intake.start();
  expect(intake.port).toBe(port);
  return port;
}

function transport(port: number, lmtp = false) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, lmtp });
}

function mail(extra: Record<string, unknown> = {}) {
  return {
    from: 'Customer <customer@example.com>',
    to: SUPPORT,
    subject: 'Printer on fire',
    text: 'It is on fire.',
    messageId: `<${Math.random().toString(36).slice(2)}@example.com>`,
    ...extra,
  };
}

/** Sends and returns the error nodemailer rejected with (fails the test if it did not). */
async function sendExpectingError(port: number, message: Record<string, unknown>, lmtp = false): Promise<Error & { responseCode?: number; response?: string }> {
  try {
    await transport(port, lmtp).sendMail(message);
  } catch (error) {
    return error as Error & { responseCode?: number };
  }
  throw new Error('expected the server to refuse the message');
}

/** A minimal SMTP dialogue over a raw socket: each send() resolves with the next full reply. */
async function rawSession(port: number): Promise<{ send(line: string | null): Promise<string>; close(): void }> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let buffer = '';
  const waiting: ((reply: string) => void)[] = [];
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    // A reply is complete at a line whose code is followed by a space ("250 ", not "250-").
    for (let match = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer); match; match = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buffer)) {
      buffer = buffer.slice(match[0].length);
      waiting.shift()?.(match[0]);
    }
  });
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  await next(); // greeting
  return {
    send(line) {
      const reply = next();
      if (line !== null) socket.write(`${line}\r\n`);
      return reply;
    },
    close() {
      socket.destroy();
    },
  };
}

describe('SMTP intake', () => {
  it('accepts mail for our addresses (any case, +tag) and hands the raw message with its envelope to the handler', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    const info = await transport(port).sendMail(mail({
      to: ['Support@Casemail.LOCALHOST', 'support+c100042.k3f9@casemail.localhost'],
      envelope: { from: 'customer@example.com', to: ['Support@Casemail.LOCALHOST', 'support+c100042.k3f9@casemail.localhost'] },
    }));
    expect(info.response).toMatch(/^250 /);
    expect(handler.handled).toHaveLength(1);
    const [call] = handler.handled;
    expect(call!.source).toEqual({
      kind: 'smtp', mailbox: null, uidValidity: null, uid: null,
      envelopeRecipients: ['support@casemail.localhost', 'support+c100042.k3f9@casemail.localhost'],
    });
    expect(call!.raw.toString('utf8').startsWith('Return-Path: <customer@example.com>\r\n')).toBe(true);
    expect(headerOf(call!.raw, 'Subject')).toBe('Printer on fire');
    expect(call!.raw.toString('utf8')).toContain('It is on fire.');
  });

  it('adds an empty Return-Path for a null sender (bounces)', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    await transport(port).sendMail(mail({ envelope: { from: '', to: [SUPPORT] } }));
    expect(handler.handled[0]!.raw.toString('utf8').startsWith('Return-Path: <>\r\n')).toBe(true);
  });

  it('answers 550 to recipients that are not ours and takes the message only for ours', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    const error = await sendExpectingError(port, mail({ to: 'someone@elsewhere.example' }));
    expect(error.responseCode).toBe(550);
    expect(handler.calls).toHaveLength(0);

    const info = await transport(port).sendMail(mail({ to: [SUPPORT, 'someone@elsewhere.example'] }));
    expect(info.rejected).toEqual(['someone@elsewhere.example']);
    expect(handler.handled.map((h) => h.source.envelopeRecipients)).toEqual([[SUPPORT]]);
  });

  it('advertises SIZE and answers 552 to a declared size over the limit', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    const session = await rawSession(port);
    try {
      expect(await session.send('EHLO client.example')).toMatch(new RegExp(`^250[- ]SIZE ${LIMIT}\r$`, 'm'));
      expect(await session.send(`MAIL FROM:<customer@example.com> SIZE=${LIMIT + 1}`)).toMatch(/^552 /);
    } finally {
      session.close();
    }
    expect(handler.calls).toHaveLength(0);
  });

  it('answers 552 when the streamed message goes over the limit, and takes the next one', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    const error = await sendExpectingError(port, mail({ text: 'x'.repeat(LIMIT + 1024) }));
    expect(error.responseCode).toBe(552);
    expect(handler.calls).toHaveLength(0);
    await transport(port).sendMail(mail({ subject: 'small one' }));
    expect(handler.subjects()).toEqual(['small one']);
  });

  it('answers 451 on a temporary failure so the sender retries, and 250 when the retry succeeds', async () => {
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'temporary', times: 1 });
    const port = await startIntake(handler);
    const message = mail();
    const error = await sendExpectingError(port, message);
    expect(error.responseCode).toBe(451);
    expect(handler.handled).toHaveLength(0);
    const info = await transport(port).sendMail(message);
    expect(info.response).toMatch(/^250 /);
    expect(handler.handled).toHaveLength(1);
  });

  it('quarantines a message the handler fails on (not temporary) and accepts it, so nothing is lost', async () => {
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'permanent', times: 1 });
    const port = await startIntake(handler);
    const info = await transport(port).sendMail(mail({ subject: 'breaks the handler' }));
    expect(info.response).toMatch(/^250 .*quarantined/);
    expect(handler.quarantined.map((q) => headerOf(q.raw, 'Subject'))).toEqual(['breaks the handler']);
  });

  it('stop() closes the listener even with an idle pooled client connected', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler);
    const pooled = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true });
    await pooled.sendMail(mail());
    await intakes.pop()!.stop();
    const error = await pooled.sendMail(mail()).then(() => null, (err: Error) => err);
    pooled.close();
    expect(error).not.toBeNull();
  });
});

describe('LMTP intake', () => {
  it('replies per recipient: 250 for each of ours, one stored message for all of them', async () => {
    const handler = new RecordingHandler();
    const port = await startIntake(handler, { lmtp: true });
    const info = await transport(port, true).sendMail(mail({ to: [SUPPORT, ESCALATION, 'someone@elsewhere.example'] }));
    expect(info.accepted).toEqual([SUPPORT, ESCALATION]);
    expect(info.rejected).toEqual(['someone@elsewhere.example']);
    expect(handler.handled).toHaveLength(1);
    expect(handler.handled[0]!.source.envelopeRecipients).toEqual([SUPPORT, ESCALATION]);
  });

  it('answers 451 for every recipient on a temporary failure', async () => {
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'temporary', times: 1 });
    const port = await startIntake(handler, { lmtp: true });
    const session = await rawSession(port);
    try {
      expect(await session.send('LHLO client.example')).toMatch(/^250/m);
      expect(await session.send('MAIL FROM:<customer@example.com>')).toMatch(/^250 /);
      expect(await session.send(`RCPT TO:<${SUPPORT}>`)).toMatch(/^250 /);
      expect(await session.send(`RCPT TO:<${ESCALATION}>`)).toMatch(/^250 /);
      expect(await session.send('DATA')).toMatch(/^354 /);
      const first = session.send('Subject: lmtp\r\nMessage-ID: <lmtp-1@example.com>\r\n\r\nbody\r\n.');
      const second = session.send(null);
      expect([await first, await second].map((reply) => reply.slice(0, 4))).toEqual(['451 ', '451 ']);
    } finally {
      session.close();
    }
    expect(handler.calls).toHaveLength(1);
    expect(handler.handled).toHaveLength(0);
  });
});

it('baseAddress lower-cases and drops a +tag', () => {
  expect(baseAddress(' Support+c100042.k3f9@CaseMail.localhost ')).toBe('support@casemail.localhost');
  expect(baseAddress('+odd@example.com')).toBe('+odd@example.com');
});
