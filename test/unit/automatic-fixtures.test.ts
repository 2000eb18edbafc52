// Automatic-mail classification of hand-written .eml fixtures, each reproducing one MTA's,
// provider's or client's quirk, run through the real parser.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { classifyAutomatic, type AutomaticClassification } from '../../src/threading/automatic.js';

const OPTS = { ourMessageIdDomains: ['casemail.example'], loopHeader: 'X-Casemail-Loop' };

async function classify(name: string): Promise<AutomaticClassification> {
  const raw = readFileSync(new URL(`../fixtures/mail/automatic/${name}`, import.meta.url));
  return classifyAutomatic(await parseMessage(raw), OPTS);
}

describe('bounces', () => {
  it.each([
    ['postfix-dsn-user-unknown.eml', ['5.1.1'], ['old.contact@customer.example'], true],
    ['exim-x-failed-recipients.eml', ['5.1.1'], ['j.doe@unrouted.example'], true],
    ['qmail-no-such-user.eml', ['5.1.1'], ['info@shop.example'], true],
    ['exchange-ndr-text-only.eml', ['5.1.1'], ['kim.akers@contoso.example'], true],
    ['lotus-notes-not-listed.eml', ['5.1.1'], ['jan.novak@lotus.example.com'], true],
    ['gmail-over-quota.eml', ['5.2.2'], ['busy.person@webmail.example'], true],
    ['provider-unknown-account.eml', ['5.1.1'], ['gone.user@bigmail.example'], true],
    ['sendmail-delay-warning.eml', ['4.4.1'], ['prof.smith@dept.example.edu'], false],
    ['dsn-delayed.eml', ['4.4.1'], ['slow@far.example'], false],
    ['dsn-mixed-recipients.eml', ['5.1.1'], ['wrong@customer.example'], true],
  ] as const)('%s', async (name, statuses, recipients, permanent) => {
    const c = await classify(name);
    expect(c.kind).toBe('bounce');
    expect(c.automated).toBe(true);
    expect(c.bounce).toEqual({ statuses, recipients, permanent });
    expect(c.reasons.length).toBeGreaterThan(0);
  });
});

describe('reports', () => {
  it('a relayed DSN is a delivery report, not a bounce', async () => {
    const c = await classify('dsn-delivered.eml');
    expect(c).toMatchObject({ kind: 'delivery-report', automated: true, bounce: null });
  });

  it('an MDN read receipt is a delivery report', async () => {
    const c = await classify('mdn-read-receipt.eml');
    expect(c).toMatchObject({ kind: 'delivery-report', automated: true, bounce: null });
    expect(c.reasons[0]).toContain('displayed');
  });

  it('an ARF report is a feedback report', async () => {
    const c = await classify('arf-abuse-report.eml');
    expect(c).toMatchObject({ kind: 'feedback-report', automated: true });
    expect(c.reasons[0]).toBe('feedback report: abuse');
  });
});

describe('auto-replies', () => {
  it.each([
    ['vacation-en-outlook.eml', 'auto-submitted: auto-generated'],
    ['vacation-de-subject-only.eml', 'vacation subject'],
    ['vacation-fr-encoded-subject.eml', 'vacation subject'],
    ['vacation-es-encoded-subject.eml', 'vacation subject'],
    ['vacation-gmail-auto-replied.eml', 'auto-submitted: auto-replied'],
    ['vacation-x-autoreply-null-sender.eml', 'x-autoreply: yes'],
  ])('%s', async (name, reason) => {
    const c = await classify(name);
    expect(c.kind).toBe('auto-reply');
    expect(c.automated).toBe(true);
    expect(c.bounce).toBeNull();
    expect(c.reasons).toContain(reason);
  });
});

describe('human mail', () => {
  it.each([
    'human-reply-x-auto-response-suppress.eml',
    'human-asks-about-out-of-office.eml',
    'human-forwards-bounce.eml',
  ])('%s is a person writing', async (name) => {
    expect(await classify(name)).toEqual({ kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null });
  });

  it('list mail is human-written but never answered', async () => {
    const c = await classify('list-mail.eml');
    expect(c).toMatchObject({ kind: 'human', automated: true, mailingList: true });
    expect(c.reasons).toEqual(expect.arrayContaining(['list-id header', 'precedence: list']));
  });
});

describe('loops', () => {
  it('our own Message-ID domain', async () => {
    expect(await classify('loop-own-message-id.eml')).toMatchObject({ kind: 'loop', automated: true });
  });
  it('our loop header', async () => {
    expect(await classify('loop-header.eml')).toMatchObject({ kind: 'loop', reasons: ['loop: x-casemail-loop header'] });
  });
});
