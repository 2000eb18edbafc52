// The pure rules behind intake hardening (issue 11): doubtful originators, text PostgreSQL
// accepts, empty input, VERP return-path tokens, which addresses a bounce may mark, the caps on
// work per message and per sender, and the route decisions that use them.
import { describe, expect, it } from 'vitest';
import { doubtfulOriginator } from '../../src/threading/originator.js';
import { pgSafeDeep, pgSafeText } from '../../src/threading/pg-text.js';
import { isEmptyInput } from '../../src/threading/empty-input.js';
import { outboxIdFromReturnPath, returnPathFor } from '../../src/threading/return-path-token.js';
import { addressesToMarkBouncing, refersToOurMailOnCase } from '../../src/threading/bounce-trust.js';
import { describeHits, planNewCases } from '../../src/threading/intake-limits.js';
import { routeMessage, type RouteFacts, type ReferencedCase } from '../../src/threading/route-message.js';
import type { AutomaticClassification } from '../../src/threading/automatic.js';

const bob = { address: 'bob@acme.example', name: 'Bob' };
const eve = { address: 'eve@evil.example', name: 'Eve' };

describe('doubtfulOriginator', () => {
  it('one From field with one mailbox, or no originator facts (hand-built), is plain', () => {
    expect(doubtfulOriginator({ originator: { fromMailboxes: [bob], fromFields: 1, sender: null } })).toBeNull();
    expect(doubtfulOriginator({})).toBeNull();
  });
  it('two From fields are doubtful, whatever Sender says', () => {
    expect(doubtfulOriginator({ originator: { fromMailboxes: [bob, eve], fromFields: 2, sender: bob } })).toMatch(/2 From header fields/);
  });
  it('several mailboxes in one From are doubtful without Sender, plain with it', () => {
    expect(doubtfulOriginator({ originator: { fromMailboxes: [bob, eve], fromFields: 1, sender: null } })).toMatch(/2 From mailboxes and no Sender/);
    expect(doubtfulOriginator({ originator: { fromMailboxes: [bob, eve], fromFields: 1, sender: bob } })).toBeNull();
  });
});

describe('pgSafeText / pgSafeDeep', () => {
  it('replaces NUL and lone surrogates, keeps real surrogate pairs', () => {
    expect(pgSafeText('a\0b')).toBe('a\uFFFDb');
    expect(pgSafeText('x\uD800y\uDC00z')).toBe('x\uFFFDy\uFFFDz');
    expect(pgSafeText('emoji \u{1F600}')).toBe('emoji \u{1F600}');
  });
  it('cleans every string in nested data and leaves Buffers and Dates alone', () => {
    const content = Buffer.from([0, 1, 2]);
    const date = new Date(0);
    const v = { subject: 'S\0', list: [{ filename: 'a\0.txt', content }], date, n: 1, headers: { 'x\0': ['v\0'] } };
    const c = pgSafeDeep(v);
    expect(c).toEqual({ subject: 'S\uFFFD', list: [{ filename: 'a\uFFFD.txt', content }], date, n: 1, headers: { 'x\uFFFD': ['v\uFFFD'] } });
    expect(c.list[0]!.content).toBe(content);
    expect(v.subject).toBe('S\0');
  });
  it('keeps a "__proto__" key as data (header names come from mail)', () => {
    const headers = JSON.parse('{"__proto__":["x\\u0000"],"subject":["s"]}') as Record<string, string[]>;
    const c = pgSafeDeep({ headers });
    expect(Object.keys(c.headers)).toEqual(['__proto__', 'subject']);
    expect(Object.getOwnPropertyDescriptor(c.headers, '__proto__')?.value).toEqual(['x\uFFFD']);
    expect(Object.getPrototypeOf(c.headers)).toBe(Object.prototype);
  });
  it('returns the same object when nothing needed cleaning', () => {
    const v = { a: 'plain', b: ['x'] };
    expect(pgSafeDeep(v)).toBe(v);
  });
});

describe('isEmptyInput', () => {
  it.each([
    ['no bytes', ''],
    ['white space', ' \r\n\r\n\t'],
    ['only the Return-Path the SMTP intake adds', 'Return-Path: <bob@acme.example>\r\n'],
    ['only trace fields and a blank line', 'Received: from x\r\n by y\r\nDelivered-To: support@casemail.localhost\r\n\r\n  \r\n'],
  ])('%s is empty', (_name, raw) => expect(isEmptyInput(Buffer.from(raw))).toBe(true));
  it.each([
    ['a From', 'From: bob@acme.example\r\n\r\n'],
    ['a body after trace fields', 'Return-Path: <>\r\n\r\nhello'],
    ['a line of text', 'hello'],
  ])('%s is not empty', (_name, raw) => expect(isEmptyInput(Buffer.from(raw))).toBe(false));
});

describe('return-path tokens', () => {
  const support = 'support@casemail.localhost';
  it('round-trips an outbox id through the support address\'s subaddress', () => {
    const rp = returnPathFor(support, 's3cret', 42);
    expect(rp).toMatch(/^support\+bounce-42\.[0-9a-f]{20}@casemail\.localhost$/);
    expect(outboxIdFromReturnPath(['someone@else.example', rp.toUpperCase()], support, 's3cret')).toBe(42);
  });
  it('refuses a forged or altered token, another secret, or another domain', () => {
    const rp = returnPathFor(support, 's3cret', 42);
    expect(outboxIdFromReturnPath([rp.replace('bounce-42', 'bounce-43')], support, 's3cret')).toBeNull();
    expect(outboxIdFromReturnPath([rp], support, 'other')).toBeNull();
    expect(outboxIdFromReturnPath([rp.replace('casemail.localhost', 'evil.example')], support, 's3cret')).toBeNull();
    expect(outboxIdFromReturnPath(['support+bounce-42.0000000000@casemail.localhost'], support, 's3cret')).toBeNull();
  });
});

describe('addressesToMarkBouncing', () => {
  const permanent = (recipients: string[]) => ({ statuses: ['5.1.1'], recipients, permanent: true });
  const ours = [{ outboxId: 1, caseId: 7, recipients: ['bob@acme.example', 'carol@acme.example'] }];
  it('marks nobody when the report refers to no mail of ours (a forged bounce)', () => {
    expect(addressesToMarkBouncing(permanent(['bob@acme.example']), [])).toEqual([]);
  });
  it('marks only the named recipients that our mail went to', () => {
    expect(addressesToMarkBouncing(permanent(['Bob@acme.example', 'ada@acme.example']), ours)).toEqual(['bob@acme.example']);
  });
  it('a report naming nobody, about a mail to one address, is about that address; to several, about none', () => {
    expect(addressesToMarkBouncing(permanent([]), [{ outboxId: 2, caseId: null, recipients: ['bob@acme.example'] }])).toEqual(['bob@acme.example']);
    expect(addressesToMarkBouncing(permanent([]), ours)).toEqual([]);
  });
  it('never marks on a temporary failure', () => {
    expect(addressesToMarkBouncing({ statuses: ['4.2.2'], recipients: ['bob@acme.example'], permanent: false }, ours)).toEqual([]);
  });
  it('knows whether the report is about mail on a given case', () => {
    expect(refersToOurMailOnCase(7, ours)).toBe(true);
    expect(refersToOurMailOnCase(8, ours)).toBe(false);
  });
});

describe('planNewCases', () => {
  const limits = { maxCasesPerMessage: 10, maxNewCasesPerSenderPerHour: 20, maxAcknowledgementsPerSenderPerHour: 20 };
  const issues = (n: number) => Array.from({ length: n }, (_, i) => ({ title: `Issue ${i + 1}`, text: `text ${i + 1}` }));
  const whole = { title: 'Many issues', text: 'everything' };
  const quiet = { newCases: 0, acknowledgements: 0 };

  it('opens one case per issue under the caps, each acknowledged', () => {
    const plan = planNewCases(issues(3), whole, quiet, limits);
    expect(plan.parts.map((p) => p.title)).toEqual(['Issue 1', 'Issue 2', 'Issue 3']);
    expect(plan.acknowledge).toEqual([true, true, true]);
    expect(plan.hits).toEqual([]);
    expect(describeHits(plan.hits)).toBeNull();
  });
  it('caps the cases of one message; the rest stay in the last case', () => {
    const plan = planNewCases(issues(100), whole, quiet, limits);
    expect(plan.parts).toHaveLength(10);
    expect(plan.parts[9]!.title).toBe('Issue 10');
    expect(plan.parts[9]!.text).toContain('text 10');
    expect(plan.parts[9]!.text).toContain('text 100');
    expect(plan.hits.map((h) => h.limit)).toEqual(['maxCasesPerMessage']);
    expect(describeHits(plan.hits)).toMatch(/^limits: maxCasesPerMessage 10 \(100 issues found/);
  });
  it('past the hourly new-case cap, opens the one case the whole message becomes', () => {
    const plan = planNewCases(issues(3), whole, { newCases: 20, acknowledgements: 0 }, limits);
    expect(plan.parts).toEqual([whole]);
    expect(plan.hits.map((h) => h.limit)).toEqual(['maxNewCasesPerSenderPerHour']);
    const single = planNewCases([], whole, { newCases: 25, acknowledgements: 0 }, limits);
    expect(single.parts).toEqual([whole]);
    expect(single.hits.map((h) => h.limit)).toEqual(['maxNewCasesPerSenderPerHour']);
  });
  it('near the hourly new-case cap, opens what is left', () => {
    const plan = planNewCases(issues(5), whole, { newCases: 18, acknowledgements: 0 }, limits);
    expect(plan.parts).toHaveLength(2);
    expect(plan.parts[1]!.text).toContain('text 5');
  });
  it('past the hourly acknowledgement cap, opens the case but acknowledges nothing', () => {
    const plan = planNewCases([], whole, { newCases: 0, acknowledgements: 20 }, limits);
    expect(plan.parts).toEqual([whole]);
    expect(plan.acknowledge).toEqual([false]);
    expect(plan.hits.map((h) => h.limit)).toEqual(['maxAcknowledgementsPerSenderPerHour']);
    expect(planNewCases(issues(3), whole, { newCases: 0, acknowledgements: 19 }, limits).acknowledge).toEqual([true, false, false]);
  });
});

describe('routeMessage: hardening', () => {
  const human: AutomaticClassification = { kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null };
  const autoReply: AutomaticClassification = { kind: 'auto-reply', automated: true, mailingList: false, reasons: ['auto-submitted: auto-replied'], bounce: null };
  const ref = (over: Partial<ReferencedCase> = {}): ReferencedCase => ({
    caseId: 5, number: 100005, organisationId: 1, state: 'open', closedAt: null, via: 'subject', senderIsParticipant: false, ...over,
  });
  const facts = (over: Partial<RouteFacts>): RouteFacts => ({
    auto: human, recipients: ['support@casemail.localhost'], escalationAddress: 'escalation@casemail.localhost',
    sender: { kind: 'unknown' }, referenced: null, reopenWindowDays: 7, now: new Date('2026-11-30T09:00:00Z'), ...over,
  });
  const customer = { kind: 'contact' as const, organisationId: 1, admin: false, active: true, entitled: true };
  const otherOrg = { ...customer, organisationId: 2 };

  it('holds a doubtful sender with ambiguous_sender, even a participant\'s reply, and answers nobody', () => {
    expect(routeMessage(facts({ sender: customer, referenced: ref({ senderIsParticipant: true }), doubtfulSender: '2 From header fields' })))
      .toEqual({ kind: 'hold', reason: 'ambiguous_sender', caseId: 5, notifySender: null, notifyAssignee: true });
    expect(routeMessage(facts({ sender: customer, doubtfulSender: '2 From mailboxes and no Sender' })))
      .toEqual({ kind: 'hold', reason: 'ambiguous_sender', caseId: null, notifySender: null, notifyAssignee: false });
  });

  it('keeps a stranger\'s automatic mail off the case it names; a participant\'s or a report on our mail is attached', () => {
    expect(routeMessage(facts({ auto: autoReply, referenced: ref() }))).toEqual({ kind: 'automatic', caseId: null, refusedCaseId: 5 });
    expect(routeMessage(facts({ auto: autoReply, referenced: ref(), refersToOurMail: true }))).toEqual({ kind: 'automatic', caseId: 5, refusedCaseId: null });
    expect(routeMessage(facts({ auto: autoReply, sender: customer, referenced: ref() }))).toEqual({ kind: 'automatic', caseId: 5, refusedCaseId: null });
    expect(routeMessage(facts({ auto: autoReply, referenced: null }))).toEqual({ kind: 'automatic', caseId: null, refusedCaseId: null });
  });

  it('answers a stranger the same whether the case number in the subject exists or not: not at all (spec 3.5)', () => {
    const exists = routeMessage(facts({ referenced: ref(), subjectNamesCase: true }));
    const missing = routeMessage(facts({ referenced: null, subjectNamesCase: true }));
    expect(exists).toMatchObject({ kind: 'hold', reason: 'not_allowed_on_case', caseId: 5, notifySender: null, notifyAssignee: true });
    expect(missing).toMatchObject({ kind: 'hold', reason: 'unknown_sender', notifySender: null });
    const noContract = { ...otherOrg, entitled: false };
    expect(routeMessage(facts({ sender: noContract, referenced: ref(), subjectNamesCase: true }))).toMatchObject({ notifySender: null });
    expect(routeMessage(facts({ sender: noContract, referenced: null, subjectNamesCase: true }))).toMatchObject({ notifySender: null });
    // Without a case tag the usual notice goes out.
    expect(routeMessage(facts({ sender: noContract, referenced: null }))).toMatchObject({ notifySender: 'no_contract' });
    expect(routeMessage(facts({ referenced: null }))).toMatchObject({ notifySender: 'unknown_sender' });
  });

  it('gives an entitled contact of another organisation a case of their own, as if the tag named nothing', () => {
    expect(routeMessage(facts({ sender: otherOrg, referenced: ref() }))).toEqual({ kind: 'new-request' });
    expect(routeMessage(facts({ sender: otherOrg, referenced: null }))).toEqual({ kind: 'new-request' });
    // Found by our Message-ID in the headers (not a guessable number): held as before.
    expect(routeMessage(facts({ sender: otherOrg, referenced: ref({ via: 'headers' }) }))).toMatchObject({ kind: 'hold', reason: 'not_allowed_on_case', notifySender: null });
  });
});
