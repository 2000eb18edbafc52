// Issue 8's automatic-mail families, each pinned by a hand-written fixture run through the real
// parser: Amazon SES notifications (plain and inside SNS), plain-text bounces that are no RFC 3464
// report, list-manager notices, all-successful DSNs, and people writing about delivery problems.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { classifyAutomatic, type AutomaticClassification } from '../../src/threading/automatic.js';
import { readSesNotification } from '../../src/threading/ses-notification.js';
import { hasSmtpTranscript, looksLikeBounceSubject, readsAsPersonalLetter, statusesFromText } from '../../src/threading/bounce-text.js';
import type { ParsedMessage } from '../../src/threading/parsed-message.js';
import { buildMessage } from '../support/parsed-message-builder.js';

const OPTS = { ourMessageIdDomains: ['casemail.example'], loopHeader: 'X-Casemail-Loop' };

async function classify(name: string): Promise<AutomaticClassification> {
  const raw = readFileSync(new URL(`../fixtures/mail/automatic/${name}`, import.meta.url));
  return classifyAutomatic(await parseMessage(raw), OPTS);
}

describe('Amazon SES notifications', () => {
  it('a Permanent bounce as plain JSON: every bounced recipient, statuses from status or diagnosticCode, permanent', async () => {
    const c = await classify('ses-bounce-plain-json.eml');
    expect(c).toMatchObject({ kind: 'bounce', automated: true });
    expect(c.bounce).toEqual({
      statuses: ['5.1.1', '5.1.10'],
      recipients: ['no.such.person@customer.example', 'also.gone@customer.example'],
      permanent: true,
    });
    expect(c.reasons[0]).toBe('amazon ses: bounce (permanent/general)');
  });

  it('a Permanent bounce inside an SNS envelope (Message is a JSON string, footer below): status from the subtype', async () => {
    const c = await classify('ses-bounce-sns-envelope.eml');
    expect(c).toMatchObject({ kind: 'bounce', automated: true, bounce: { statuses: ['5.1.1'], recipients: ['left.company@customer.example'], permanent: true } });
    expect(c.reasons[0]).toMatch(/^amazon ses via sns: bounce/);
  });

  it('a Transient MailboxFull bounce is temporary 4.2.2', async () => {
    const c = await classify('ses-bounce-sns-transient.eml');
    expect(c.bounce).toEqual({ statuses: ['4.2.2'], recipients: ['full.box@webmail.example'], permanent: false });
  });

  it('a complaint is a feedback report, a delivery is a delivery report; both automated', async () => {
    expect(await classify('ses-complaint-sns-envelope.eml')).toMatchObject({ kind: 'feedback-report', automated: true, bounce: null, reasons: ['amazon ses via sns: complaint (abuse)'] });
    expect(await classify('ses-delivery-plain-json.eml')).toMatchObject({ kind: 'delivery-report', automated: true, bounce: null });
  });

  it('a customer quoting SES JSON inside a question is a person writing', async () => {
    expect(await classify('human-pastes-ses-json.eml')).toMatchObject({ kind: 'human', automated: false });
  });

  const msg = (text: string): Pick<ParsedMessage, 'text' | 'attachments'> => ({ text, attachments: [] });
  it('needs the notification type and the mail object; an SNS envelope of something else is no SES notice', () => {
    expect(readSesNotification(msg('{"notificationType":"Bounce"}'))).toBeNull();
    expect(readSesNotification(msg('{"eventType":"Bounce","mail":{}}'))?.type).toBe('Bounce');
    expect(readSesNotification(msg(JSON.stringify({ Type: 'Notification', TopicArn: 'arn:x', Message: 'hello' })))).toBeNull();
    expect(readSesNotification(msg('{not json'))).toBeNull();
  });

  it('names the Message-ID we wrote, which SES keeps in the mail object', () => {
    const n = readSesNotification(msg(JSON.stringify({
      notificationType: 'Complaint', complaint: {}, mail: { messageId: 'ses-own', commonHeaders: { messageId: '<ack-7@casemail.example>' }, headers: [{ name: 'Message-ID', value: 'ack-7@casemail.example' }] },
    })));
    expect(n?.originalMessageIds).toEqual(['<ack-7@casemail.example>']);
  });

  it('a DeliveryDelay event is a temporary bounce', () => {
    const n = readSesNotification(msg(JSON.stringify({
      eventType: 'DeliveryDelay', mail: {}, deliveryDelay: { delayType: 'MailboxFull', delayedRecipients: [{ emailAddress: 'x@y.example', status: '4.2.2' }] },
    })));
    expect(n).toMatchObject({ type: 'DeliveryDelay', statuses: ['4.2.2'], recipients: ['x@y.example'], permanent: false });
  });
});

describe('plain-text bounces that are no RFC 3464 report', () => {
  it.each([
    // name, statuses, recipients, permanent, a reason it must give
    ['text-bare-mailer-daemon.eml', ['5.1.1'], ['r.tanaka@customer.example'], true, 'sender mailer-daemon'],
    ['text-mailer-daemon-no-domain.eml', ['5.1.1'], ['b.okafor@customer.example'], true, 'sender mailer-daemon'],
    ['text-post-master-invalid-user.eml', ['5.1.1'], ['k.sato@hosting.example.jp'], true, 'sender post_master'],
    ['text-mailbox-full-temporary.eml', ['4.2.2'], ['l.moreau@webmail.example'], false, 'bounce text: problem delivering'],
    ['text-mailbox-full-552.eml', ['5.2.2'], ['p.ivanova@webmail.example'], true, 'sender postmaster'],
    ['text-smtp-transcript.eml', ['5.1.1'], ['h.schmidt@partner.example'], true, 'smtp transcript'],
    ['text-error-with-rfc822-attachment.eml', ['5.1.1'], ['m.rossi@customer.example'], true, 'returned message attached'],
    ['text-error-with-inline-original.eml', ['5.1.1'], ['t.nguyen@partner.example'], true, 'returned message inline'],
    ['text-japanese-carrier.eml', ['5.1.1'], ['y.suzuki@carrier.example.jp'], true, 'bounce subject'],
    ['text-interscan-transcript.eml', ['5.1.1'], ['w.berg@partner.example'], true, 'smtp transcript'],
  ] as const)('%s', async (name, statuses, recipients, permanent, reason) => {
    const c = await classify(name);
    expect(c.kind).toBe('bounce');
    expect(c.automated).toBe(true);
    expect(c.bounce).toEqual({ statuses, recipients, permanent });
    expect(c.reasons).toContain(reason);
  });

  it('a sender with no domain is read from the From header even when the parser gives no usable sender', () => {
    const text = 'We had trouble delivering your message to x.y@customer.example: user unknown.';
    for (const from of [null, { address: '', name: 'MAILER-DAEMON' }] as const) {
      const c = classifyAutomatic(buildMessage({ from, headers: { From: 'MAILER-DAEMON' }, subject: 'Notice', text }), OPTS);
      expect(c).toMatchObject({ kind: 'bounce', automated: true, bounce: { statuses: ['5.1.1'], recipients: ['x.y@customer.example'], permanent: true } });
      expect(c.reasons).toContain('sender mailer-daemon');
    }
  });

  it.each(['配信エラー', 'メール送信に失敗しました', '不達メール', '系统退信', '메일 반송', 'Не доставлено: отчёт'])('bounce subject in another language: %s', (subject) => {
    expect(looksLikeBounceSubject(subject)).toBe(true);
  });

  it('a transcript needs a command beside the failure reply', () => {
    expect(hasSmtpTranscript('>>> RCPT TO:<a@b.example>\n<<< 550 5.1.1 unknown')).toBe(true);
    expect(hasSmtpTranscript('host mx.b.example said: 550 5.1.1 unknown (in reply to RCPT TO command)')).toBe(true);
    expect(hasSmtpTranscript('we see 550 5.1.1 in our logs')).toBe(false);
    expect(hasSmtpTranscript('550 user unknown')).toBe(false);
  });

  it('a transcript\'s successful replies are not the bounce\'s statuses', () => {
    expect(statusesFromText('<<< 250 2.1.0 ok\n<<< 550 5.1.1 unknown')).toEqual(['5.1.1']);
  });

  it('a greeting, a sign-off or first-person prose mark a letter; MTA templates are not letters', () => {
    expect(readsAsPersonalLetter('Hi team,\n\nour mails bounce.')).toBe(true);
    expect(readsAsPersonalLetter('Our mails bounce.\n\nThanks,\nMaria')).toBe(true);
    expect(readsAsPersonalLetter('Hi. This is the qmail-send program at mx.example.org.\nI\'m afraid I wasn\'t able to deliver your message to the following addresses.\nThis is a permanent error; I\'ve given up. Sorry it didn\'t work out.')).toBe(false);
    expect(readsAsPersonalLetter('This message was created automatically by mail delivery software.')).toBe(false);
  });
});

describe('mailing-list manager notices are bounces of the post (automated)', () => {
  it.each([
    ['list-fml-non-member.eml', '5.7.1', 'list manager notice: non-member'],
    ['list-mailman-non-member.eml', '5.7.1', 'list manager notice: non-member'],
    ['list-majordomo-loop.eml', '5.4.6', 'list manager notice: loop'],
  ] as const)('%s', async (name, status, reason) => {
    const c = await classify(name);
    expect(c).toMatchObject({ kind: 'bounce', automated: true });
    expect(c.bounce?.statuses).toEqual([status]);
    expect(c.reasons[0]).toBe(reason);
  });

  it('a post held for the moderator is an automatic notice, not a bounce', async () => {
    expect(await classify('list-mailman-held.eml')).toMatchObject({ kind: 'auto-reply', automated: true, bounce: null });
  });
});

describe('delivery status notifications whose every recipient succeeded are delivery reports', () => {
  it.each([
    ['dsn-deliverable.eml', 'delivered, deliverable'],
    ['dsn-deliverable-only.eml', 'deliverable'],
    ['dsn-success-status-only.eml', '2.0.0, 2.6.0'],
  ])('%s', async (name, reason) => {
    const c = await classify(name);
    expect(c).toMatchObject({ kind: 'delivery-report', automated: true, bounce: null });
    expect(c.reasons[0]).toBe(`delivery status notification: ${reason}`);
  });
});

describe('people writing about delivery problems are never bounces', () => {
  it.each([
    'human-parcel-not-delivered.eml',
    'human-reports-bounce-problem.eml',
    'human-not-a-member-admin-sender.eml',
    'human-admin-sender-needs-approval.eml',
    'human-pastes-ses-json.eml',
  ])('%s', async (name) => {
    expect(await classify(name)).toEqual({ kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null });
  });
});
