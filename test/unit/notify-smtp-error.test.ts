// SMTP error classification: which failures are retried and which fail the mail for good.
import { describe, expect, it } from 'vitest';
import { classifySendError, describeSendFailure } from '../../src/notify/smtp-error.js';

function nodemailerError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('classifySendError', () => {
  it.each([
    ['ECONNREFUSED', nodemailerError('connect ECONNREFUSED 127.0.0.1:25', { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' })],
    ['ETIMEDOUT', nodemailerError('Connection timeout', { code: 'ETIMEDOUT', command: 'CONN' })],
    ['ECONNECTION', nodemailerError('Connection closed unexpectedly', { code: 'ECONNECTION' })],
    ['ESOCKET', nodemailerError('read ECONNRESET', { code: 'ESOCKET' })],
    ['EDNS', nodemailerError('getaddrinfo EAI_AGAIN smtp.example.com', { code: 'EDNS' })],
  ])('retries a connection failure (%s) that carries no server reply', (code, err) => {
    const f = classifySendError(err);
    expect(f).toMatchObject({ permanent: false, code, responseCode: null });
    expect(f.reply).toBe(err.message);
  });

  it('retries 4xx replies and keeps the reply text', () => {
    const err = nodemailerError('Message failed: 451 4.3.0 Temporary local problem', {
      code: 'EMESSAGE', response: '451 4.3.0 Temporary local problem', responseCode: 451, command: 'DATA',
    });
    expect(classifySendError(err)).toEqual({
      permanent: false, code: 'EMESSAGE', responseCode: 451, command: 'DATA', reply: '451 4.3.0 Temporary local problem',
    });
  });

  it('fails 5xx replies at once, with the server reply', () => {
    const err = nodemailerError("Can't send mail - all recipients were rejected: 550 5.1.1 <x@example.com>: user unknown", {
      code: 'EENVELOPE', response: '550 5.1.1 <x@example.com>: user unknown', responseCode: 550, command: 'RCPT TO', rejected: ['x@example.com'],
    });
    const f = classifySendError(err);
    expect(f).toMatchObject({ permanent: true, responseCode: 550, command: 'RCPT TO' });
    expect(f.reply).toBe('550 5.1.1 <x@example.com>: user unknown');
    expect(describeSendFailure(f)).toBe('550 5.1.1 <x@example.com>: user unknown [EENVELOPE RCPT TO]');
  });

  it('fails a 552 size rejection and a 554 transaction failure for good', () => {
    expect(classifySendError(nodemailerError('x', { code: 'EMESSAGE', response: '552 5.3.4 Message too big', responseCode: 552 })).permanent).toBe(true);
    expect(classifySendError(nodemailerError('x', { code: 'EMESSAGE', response: '554 5.7.1 Spam', responseCode: 554 })).permanent).toBe(true);
  });

  it('retries 503 (bad sequence of commands): a session problem, not a verdict on the message', () => {
    expect(classifySendError(nodemailerError('x', { code: 'EPROTOCOL', response: '503 5.5.1 Error: need MAIL command', responseCode: 503 })).permanent).toBe(false);
    expect(classifySendError(nodemailerError('x', { response: '503 5.5.1 Error', responseCode: 503 })).permanent).toBe(false);
  });

  it('retries authentication failures even with a 5xx reply: the fix is our configuration, not the mail', () => {
    const f = classifySendError(nodemailerError('Invalid login: 535 5.7.8 Authentication failed', {
      code: 'EAUTH', response: '535 5.7.8 Authentication failed', responseCode: 535, command: 'AUTH PLAIN',
    }));
    expect(f).toMatchObject({ permanent: false, responseCode: 535 });
  });

  it('reads the reply code from the response text when responseCode is missing', () => {
    const f = classifySendError({ response: '550-5.7.1 first line\r\n550 5.7.1 second line' });
    expect(f).toMatchObject({ permanent: true, responseCode: 550, reply: '550-5.7.1 first line 550 5.7.1 second line' });
  });

  it('fails an envelope nodemailer itself refused (no recipients) without a server reply', () => {
    expect(classifySendError(nodemailerError('No recipients defined', { code: 'EENVELOPE' }))).toMatchObject({ permanent: true, responseCode: null });
  });

  it('retries unknown errors, strings and non-errors, bounded to one line', () => {
    expect(classifySendError(new Error('something odd\nhappened'))).toMatchObject({ permanent: false, code: null, reply: 'something odd happened' });
    expect(classifySendError('boom')).toMatchObject({ permanent: false, reply: 'boom' });
    expect(classifySendError(undefined)).toMatchObject({ permanent: false });
    expect(classifySendError(new Error('x'.repeat(5000))).reply.length).toBeLessThanOrEqual(1000);
  });
});
