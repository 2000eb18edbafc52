import { describe, expect, it } from 'vitest';
import { isClosePhrase, originalMessageIds, recipientsOf } from '../../src/threading/message-facts.js';
import { buildMessage } from '../support/parsed-message-builder.js';

const phrases = ['close', 'close it', 'please close', 'resolved', 'yes resolved', 'confirmed', 'you can close this case'];

describe('isClosePhrase', () => {
  it('takes the first non-empty line, ignoring case and punctuation', () => {
    expect(isClosePhrase('\n\n  Yes, resolved!\nThanks a lot', phrases)).toBe(true);
    expect(isClosePhrase('PLEASE CLOSE.', phrases)).toBe(true);
    expect(isClosePhrase('You can close this case :)', phrases)).toBe(true);
  });
  it('does not close on a phrase that is only part of the line, or later in the text', () => {
    expect(isClosePhrase('Please do not close this yet', phrases)).toBe(false);
    expect(isClosePhrase('It still fails.\nresolved', phrases)).toBe(false);
    expect(isClosePhrase('', phrases)).toBe(false);
  });
});

describe('recipientsOf', () => {
  it('collects To, Cc, Delivered-To and the envelope, lower-cased and once each', () => {
    const msg = {
      ...buildMessage(),
      to: [{ address: 'Support@Casemail.localhost', name: '' }],
      cc: [{ address: 'carol@acme.example', name: 'Carol' }],
      deliveredTo: ['escalation@casemail.localhost'],
    };
    expect(recipientsOf(msg, ['support@casemail.localhost']).sort()).toEqual(['carol@acme.example', 'escalation@casemail.localhost', 'support@casemail.localhost']);
  });
});

describe('originalMessageIds', () => {
  it('finds the Message-ID of the returned message in a report part', () => {
    const msg = buildMessage({
      attachments: [{ contentType: 'text/rfc822-headers', content: 'From: support@casemail.localhost\r\nMessage-ID: <ack-1@casemail.localhost>\r\nSubject: [Case #100001]\r\n' }],
    });
    expect(originalMessageIds(msg)).toEqual(['<ack-1@casemail.localhost>']);
  });
});
