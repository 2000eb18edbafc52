// The SMTP sink is what the delivery tests trust, so it gets its own check: messages collected
// with envelope and raw bytes, simulated 4xx/5xx, and stop/restart on the same port.
import { afterEach, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

let sink: SmtpSink | null = null;

afterEach(async () => {
  await sink?.stop();
  sink = null;
});

function send(port: number, subject: string) {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true })
    .sendMail({ from: 'support@casemail.localhost', to: 'customer@example.com', subject, text: 'hello' });
}

it('collects messages and resolves waitFor on arrival', async () => {
  sink = await startSmtpSink();
  const arrived = sink.waitFor(2);
  await send(sink.port, 'one');
  await send(sink.port, 'two');
  const messages = await arrived;
  expect(messages.map((m) => [m.mailFrom, m.rcptTo])).toEqual([
    ['support@casemail.localhost', ['customer@example.com']],
    ['support@casemail.localhost', ['customer@example.com']],
  ]);
  expect(messages[1]!.raw.toString()).toMatch(/^Subject: two\r$/m);
  await expect(sink.waitFor((list) => list.some((m) => m.raw.includes('never')), 50)).rejects.toThrow(/timed out/);
});

it('answers simulated temporary and permanent failures', async () => {
  sink = await startSmtpSink({ failure: { code: 451, times: 1 } });
  await expect(send(sink.port, 'deferred')).rejects.toMatchObject({ responseCode: 451 });
  await send(sink.port, 'accepted');
  sink.setFailure({ code: 550, stage: 'rcpt', message: 'no such user' });
  await expect(send(sink.port, 'bounced')).rejects.toMatchObject({ responseCode: 550 });
  expect(sink.rejections).toBe(2);
  expect(sink.messages.map((m) => m.raw.toString().match(/^Subject: (.*)\r$/m)?.[1])).toEqual(['accepted']);
});

it('stops and restarts on the same port', async () => {
  sink = await startSmtpSink();
  const port = sink.port;
  await sink.stop();
  await expect(send(port, 'while down')).rejects.toMatchObject({ code: 'ESOCKET' });
  await sink.restart();
  expect(sink.port).toBe(port);
  await send(port, 'after restart');
  await sink.waitFor(1);
});
