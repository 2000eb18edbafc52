// Bounds on outgoing mail built from input (issue 11): subjects, names, Message-IDs and
// References, recipients (never our own addresses, +tag included), the new-case text and
// attachment list, and the 998-character header line check on what nodemailer composes.
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import {
  boundMailData, boundMessageId, boundReferences, boundSubject, clipChars, clipNotificationText, longestHeaderLine,
  MAX_LINE_CHARS, MAX_NOTIFICATION_TEXT_CHARS, MAX_REFERENCES, MAX_SUBJECT_CHARS, sendableRecipients,
} from '../../src/notify/mail-bounds.js';
import { baseAddress, isOwnAddress } from '../../src/threading/addresses.js';
import { SAMPLE_MAIL_DATA } from '../../src/notify/templates.js';

const OWN = ['support@casemail.test', 'escalation@casemail.test', 'sales@casemail.test'];

describe('subjects and names', () => {
  it('cuts a 200 KB subject to 200 characters and an ellipsis, on one line', () => {
    const s = boundSubject(`Re: ${'a'.repeat(200_000)}`);
    expect(s).toBe(`Re: ${'a'.repeat(MAX_SUBJECT_CHARS - 4)}…`);
  });

  it('leaves a normal subject alone and removes line breaks and controls from it', () => {
    expect(boundSubject('[Case #100042] Export fails')).toBe('[Case #100042] Export fails');
    expect(boundSubject('Export\r\nBcc: victim@example.com\x07')).toBe('Export Bcc: victim@example.com');
  });

  it('never splits a surrogate pair when cutting', () => {
    const s = clipChars(`${'x'.repeat(9)}😀😀`, 10);
    expect(s).toBe(`${'x'.repeat(9)}…`);
    expect(clipChars('😀'.repeat(10), 5)).toBe('😀😀…');
  });
});

describe('Message-IDs and References', () => {
  it('drops ids too long for a header line and keeps normal ones', () => {
    expect(boundMessageId(`<${'r'.repeat(2000)}@x.example>`)).toBeNull();
    expect(boundMessageId('<abc@x.example>')).toBe('<abc@x.example>');
    expect(boundMessageId('<a b@x>')).toBeNull();
  });

  it('keeps the root and the latest ids of a long References list', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `<m${i}@x.example>`);
    const kept = boundReferences(ids);
    expect(kept).toHaveLength(MAX_REFERENCES);
    expect(kept[0]).toBe('<m0@x.example>');
    expect(kept.at(-1)).toBe('<m499@x.example>');
    expect(kept[1]).toBe(`<m${500 - (MAX_REFERENCES - 1)}@x.example>`);
  });
});

describe('recipients', () => {
  it('compares addresses by base address: lower-cased, +tag dropped', () => {
    expect(baseAddress(' Support+C1@CaseMail.Test ')).toBe('support@casemail.test');
    expect(isOwnAddress('SUPPORT+c1@casemail.test', OWN)).toBe(true);
    expect(isOwnAddress('supporter@casemail.test', OWN)).toBe(false);
  });

  it('never writes to our own addresses, +tag variants included, and says why', () => {
    const r = sendableRecipients(['support+c1@casemail.test', 'Bob@Acme.example'], ['Escalation@casemail.test', 'bob@acme.example', 'carol@acme.example'], OWN);
    expect(r.to).toEqual(['bob@acme.example']);
    expect(r.cc).toEqual(['carol@acme.example']);
    expect(r.dropped).toEqual([
      { address: 'support+c1@casemail.test', reason: 'one of our own addresses' },
      { address: 'escalation@casemail.test', reason: 'one of our own addresses' },
    ]);
  });

  it('leaves nobody when every recipient is ours, and moves a Cc up when only To was ours', () => {
    expect(sendableRecipients(['sales+x@casemail.test'], [], OWN).to).toEqual([]);
    expect(sendableRecipients(['support@casemail.test'], ['carol@acme.example'], OWN)).toMatchObject({ to: ['carol@acme.example'], cc: [] });
  });

  it('drops what is not a plain address: too long, with spaces or angle brackets', () => {
    const r = sendableRecipients([`${'a'.repeat(300)}@acme.example`, 'a b@acme.example', '<x@acme.example>', 'ok@acme.example'], [], OWN);
    expect(r.to).toEqual(['ok@acme.example']);
    expect(r.dropped.map((d) => d.reason)).toEqual(['longer than 254 characters', 'not a plain mail address', 'not a plain mail address']);
  });
});

describe('new-case notification data', () => {
  it('keeps the first 4,000 characters of a 14.6 MB text and says where the rest is', () => {
    const text = 'E42 '.repeat(3_650_000);
    const data = boundMailData('new-case-notification', { ...SAMPLE_MAIL_DATA['new-case-notification'], text });
    expect(data.text.length).toBeLessThan(MAX_NOTIFICATION_TEXT_CHARS + 100);
    expect(data.text.startsWith(text.slice(0, 3999))).toBe(true);
    expect(data.text).toMatch(/\n… \(14,596,00\d more characters; `casemail case show 100042`\)$/);
  });

  it('leaves a short text as it is', () => {
    expect(clipNotificationText('short', 1)).toBe('short');
    const data = boundMailData('new-case-notification', SAMPLE_MAIL_DATA['new-case-notification']);
    expect(data).toEqual(SAMPLE_MAIL_DATA['new-case-notification']);
  });

  it('lists at most 50 attachments by name and size, the rest as one summed line', () => {
    const attachments = Array.from({ length: 1000 }, (_, i) => ({ filename: `f${i}.log${'x'.repeat(i === 0 ? 5000 : 0)}`, size: 10 }));
    const data = boundMailData('new-case-notification', { ...SAMPLE_MAIL_DATA['new-case-notification'], attachments });
    expect(data.attachments).toHaveLength(50);
    expect(data.attachments[0]!.filename.length).toBeLessThanOrEqual(201);
    expect(data.attachments.at(-1)).toEqual({ filename: '… and 951 more', size: 9510 });
  });

  it('bounds the subjects quoted in the other kinds too', () => {
    const huge = 'S'.repeat(100_000);
    expect(boundMailData('held-message-notice', { ...SAMPLE_MAIL_DATA['held-message-notice'], subject: huge }).subject.length).toBe(MAX_SUBJECT_CHARS + 1);
    expect(boundMailData('oversize-notice', { ...SAMPLE_MAIL_DATA['oversize-notice'], subject: huge }).subject.length).toBe(MAX_SUBJECT_CHARS + 1);
    const ack = boundMailData('acknowledgement', { ...SAMPLE_MAIL_DATA.acknowledgement, case: { ...SAMPLE_MAIL_DATA.acknowledgement.case, subject: huge } });
    expect(ack.case.subject.length).toBe(MAX_SUBJECT_CHARS + 1);
  });
});

describe('header line length', () => {
  const compose = (subject: string) => new MailComposer({
    from: { name: 'Support', address: 'support@casemail.test' }, to: ['bob@acme.example'], subject, text: 'hi', newline: 'win',
  }).compile().build();

  it('finds the 200 KB line nodemailer writes for an unbounded subject, and none over 998 for a bounded one', async () => {
    const subject = `Re: ${'a'.repeat(200_000)}`;
    expect(longestHeaderLine(await compose(subject))).toBeGreaterThan(200_000);
    expect(longestHeaderLine(await compose(boundSubject(subject)))).toBeLessThanOrEqual(MAX_LINE_CHARS);
  });

  it('measures only the header block', () => {
    expect(longestHeaderLine(Buffer.from(`A: b\r\nC: d\r\n\r\n${'x'.repeat(5000)}`))).toBe(4);
  });
});
