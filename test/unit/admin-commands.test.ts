// Organisation admins by mail (spec section 8), the pure parts: which subject is a command, how
// an `add contact` body reads, which Authentication-Results header vouches for the sender, and
// how routing sends an admin's command (never a case) while leaving everyone else's alone.
import { describe, expect, it } from 'vitest';
import { adminCommandOf, contactLines, parseContactLine } from '../../src/threading/admin-commands.js';
import { senderAuthentication } from '../../src/threading/auth-results.js';
import { routeMessage, type RouteFacts } from '../../src/threading/route-message.js';
import { nextDeadline } from '../../src/cases/actions/admin-command.js';
import type { AutomaticClassification } from '../../src/threading/automatic.js';

describe('admin command subjects', () => {
  it('recognises the commands in any case and punctuation, behind reply prefixes', () => {
    expect(adminCommandOf('cases')).toBe('cases');
    expect(adminCommandOf('  List Cases! ')).toBe('cases');
    expect(adminCommandOf('LIST-CASES')).toBe('cases');
    expect(adminCommandOf('Re: AW: cases')).toBe('cases');
    expect(adminCommandOf('Add contact:')).toBe('add-contact');
    expect(adminCommandOf('add contacts')).toBe('add-contact');
    expect(adminCommandOf('Licenses?')).toBe('licenses');
    expect(adminCommandOf('licences')).toBe('licenses');
  });
  it('leaves anything more than the command an ordinary subject', () => {
    expect(adminCommandOf('cases are failing')).toBeNull();
    expect(adminCommandOf('[Case #100042] cases')).toBeNull();
    expect(adminCommandOf('please add contact')).toBeNull();
    expect(adminCommandOf('')).toBeNull();
  });
});

describe('add contact lines', () => {
  it('reads "address, name", "Name <address>" and a bare address; refuses what is no address', () => {
    expect(parseContactLine('lee@acme.example, Lee Park')).toEqual({ line: 'lee@acme.example, Lee Park', address: 'lee@acme.example', name: 'Lee Park' });
    expect(parseContactLine('"Kim Ho" <Kim@Acme.example>')).toMatchObject({ address: 'kim@acme.example', name: 'Kim Ho' });
    expect(parseContactLine('- max@acme.example')).toMatchObject({ address: 'max@acme.example', name: '' });
    expect(parseContactLine('not-an-address').address).toBeNull();
    expect(parseContactLine('a@b').address).toBeNull();
    expect(parseContactLine('x y@acme.example, X').address).toBeNull();
  });
  it('takes every non-empty line up to the limit and counts the rest', () => {
    const many = Array.from({ length: 53 }, (_, i) => `p${i}@acme.example`).join('\n');
    const r = contactLines(`\n${many}\n\n`);
    expect(r.lines).toHaveLength(50);
    expect(r.omitted).toBe(3);
  });
});

describe('Authentication-Results trust', () => {
  const MX = 'mx.vendor.example';
  it('refuses without the configuration, whatever the header says', () => {
    const r = senderAuthentication([`${MX}; dkim=pass header.d=acme.example`], null, 'ada@acme.example');
    expect(r).toMatchObject({ ok: false, problem: 'not_configured' });
  });
  it('accepts DKIM (header.d or header.i), SPF (smtp.mailfrom) or DMARC (header.from) pass for the sender domain', () => {
    expect(senderAuthentication([`${MX}; dkim=pass header.d=Acme.Example header.s=s1`], MX, 'ada@acme.example')).toMatchObject({ ok: true, method: 'dkim' });
    expect(senderAuthentication([`${MX}; dkim=pass header.i=@acme.example`], MX, 'ada@acme.example')).toMatchObject({ ok: true, method: 'dkim' });
    expect(senderAuthentication([`${MX} 1; spf=pass (ok) smtp.mailfrom=bounce@acme.example`], MX, 'ada@acme.example')).toMatchObject({ ok: true, method: 'spf' });
    expect(senderAuthentication([`${MX}; dkim=fail header.d=acme.example; dmarc=pass header.from=acme.example`], MX, 'ada@acme.example'))
      .toMatchObject({ ok: true, method: 'dmarc' });
    // The second of two DKIM results passes.
    expect(senderAuthentication([`${MX}; dkim=fail header.d=acme.example; dkim=pass header.d=acme.example`], MX, 'ada@acme.example'))
      .toMatchObject({ ok: true, method: 'dkim' });
  });
  it('refuses a pass for another domain, or anything but pass, and says what it saw', () => {
    const r = senderAuthentication([`${MX}; dkim=pass header.d=mailer.example; spf=softfail smtp.mailfrom=x@acme.example; dmarc=none header.from=acme.example`], MX, 'ada@acme.example');
    expect(r).toMatchObject({ ok: false, problem: 'no_pass', domain: 'acme.example' });
    expect(!r.ok && r.seen).toEqual(['dkim=pass (header.d=mailer.example)', 'spf=softfail (smtp.mailfrom=x@acme.example)', 'dmarc=none (header.from=acme.example)']);
    // A subdomain's signature is not the sender domain's.
    expect(senderAuthentication([`${MX}; dkim=pass header.d=mail.acme.example`], MX, 'ada@acme.example').ok).toBe(false);
  });
  it('ignores headers from other authserv-ids, and ours below another server\'s (forged before ours saw it)', () => {
    expect(senderAuthentication([`evil.example; dkim=pass header.d=acme.example`], MX, 'ada@acme.example'))
      .toMatchObject({ ok: false, problem: 'no_trusted_header' });
    // Topmost first: ours (fail), another server's, then a forged "ours" with a pass.
    const forged = [`${MX}; dkim=fail header.d=acme.example`, `relay.example; dkim=pass header.d=acme.example`, `${MX}; dkim=pass header.d=acme.example`];
    expect(senderAuthentication(forged, MX, 'ada@acme.example')).toMatchObject({ ok: false, problem: 'no_pass' });
    // Another server on top of ours (a content filter) does not hide ours.
    expect(senderAuthentication([`filter.example; none`, `${MX}; spf=pass smtp.mailfrom=acme.example`], MX, 'ada@acme.example')).toMatchObject({ ok: true, method: 'spf' });
    // Two consecutive headers of ours both count.
    expect(senderAuthentication([`${MX}; spf=fail smtp.mailfrom=acme.example`, `${MX}; dkim=pass header.d=acme.example`], MX, 'ada@acme.example').ok).toBe(true);
  });
  it('survives headers that are no Authentication-Results at all', () => {
    expect(senderAuthentication(['', ';;;', '=== = ='], MX, 'ada@acme.example')).toMatchObject({ ok: false, problem: 'no_trusted_header' });
    expect(senderAuthentication([`${MX}; dkim=pass header.d=acme.example`], MX, null)).toMatchObject({ ok: false, problem: 'no_sender' });
  });
});

describe('routing an admin command', () => {
  const human: AutomaticClassification = { kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null };
  const admin = { kind: 'contact' as const, organisationId: 1, admin: true, active: true, entitled: true };
  const facts = (over: Partial<RouteFacts> = {}): RouteFacts => ({
    auto: human, recipients: ['support@casemail.localhost'], escalationAddress: 'escalation@casemail.localhost', sender: admin, referenced: null,
    reopenWindowDays: 7, now: new Date('2026-11-30T09:00:00Z'), adminCommand: 'cases', ...over,
  });
  it('sends an active admin\'s command to the admin action, even without a contract', () => {
    expect(routeMessage(facts())).toEqual({ kind: 'admin-command', command: 'cases' });
    expect(routeMessage(facts({ sender: { ...admin, entitled: false }, adminCommand: 'licenses' }))).toEqual({ kind: 'admin-command', command: 'licenses' });
  });
  it('leaves the same subject from anyone else, on a case thread, or as automatic mail as it was', () => {
    expect(routeMessage(facts({ sender: { ...admin, admin: false } })).kind).toBe('new-request');
    expect(routeMessage(facts({ sender: { ...admin, active: false, entitled: false } })).kind).toBe('hold');
    expect(routeMessage(facts({ sender: { kind: 'unknown' } })).kind).toBe('hold');
    expect(routeMessage(facts({ recipients: ['escalation@casemail.localhost'] })).kind).toBe('escalation');
    expect(routeMessage(facts({ auto: { ...human, kind: 'auto-reply', automated: true } })).kind).toBe('automatic');
    const referenced = { caseId: 7, number: 100007, organisationId: 1, state: 'open', closedAt: null, via: 'headers' as const, senderIsParticipant: false };
    expect(routeMessage(facts({ referenced }))).toEqual({ kind: 'follow-up', caseId: 7, addParticipant: true, reopen: false });
  });
  it('lets an admin follow up on a case of her organisation she is not on; another organisation\'s admin is held', () => {
    const referenced = { caseId: 7, number: 100007, organisationId: 1, state: 'open', closedAt: null, via: 'subject' as const, senderIsParticipant: false };
    expect(routeMessage(facts({ adminCommand: null, referenced }))).toEqual({ kind: 'follow-up', caseId: 7, addParticipant: true, reopen: false });
    expect(routeMessage(facts({ adminCommand: null, referenced: { ...referenced, via: 'headers' }, sender: { ...admin, organisationId: 2 } })))
      .toMatchObject({ kind: 'hold', reason: 'not_allowed_on_case' });
  });
});

describe('the digest\'s next deadline', () => {
  const now = new Date('2026-11-30T09:00:00Z');
  it('names the first response while unanswered, then the automatic close, in the organisation\'s zone', () => {
    expect(nextDeadline({ firstResponseAt: null, firstResponseDueAt: new Date('2026-11-30T16:00:00Z'), autoCloseAt: null }, now, 'Europe/Berlin'))
      .toBe('first response due by Monday 30 November 2026, 17:00 (Europe/Berlin)');
    expect(nextDeadline({ firstResponseAt: null, firstResponseDueAt: new Date('2026-11-30T08:00:00Z'), autoCloseAt: null }, now, 'UTC'))
      .toBe('first response overdue since Monday 30 November 2026, 08:00 (UTC)');
    expect(nextDeadline({ firstResponseAt: now, firstResponseDueAt: now, autoCloseAt: new Date('2026-12-21T09:00:00Z') }, now, 'UTC'))
      .toBe('closes automatically on Monday 21 December 2026, 09:00 (UTC) without your reply');
    expect(nextDeadline({ firstResponseAt: now, firstResponseDueAt: now, autoCloseAt: null }, now, 'UTC')).toBeNull();
  });
});
