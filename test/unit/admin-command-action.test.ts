// The pure admin-command action (spec section 8) on hand-built facts: what `add contact` decides
// per line, that a refused command carries no organisation data, and what licenses count from.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { adminAuthentication, adminCommand } from '../../src/cases/actions/admin-command.js';
import type { AdminCommandFacts, IntakeFacts } from '../../src/cases/intake-facts.js';
import { contactLines } from '../../src/threading/admin-commands.js';
import { understandParsed, understandingOptions } from '../../src/threading/understanding.js';
import type { AdminCommandResultData } from '../../src/notify/mail-kinds.js';
import { buildMessage } from '../support/parsed-message-builder.js';

const settings = { ...loadConfig({ env: {} }).settings, trustAuthResultsFrom: 'mx.vendor.example' };
const ADA = 'ada@acme.example';

function intake(subject: string, text: string, authResults: string[]): IntakeFacts {
  const parsed = buildMessage({ from: ADA, subject, text, headers: { 'authentication-results': authResults } });
  return {
    now: new Date('2026-11-30T23:30:00Z'), settings, messageRowId: 41, source: { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [] } as never,
    understanding: understandParsed(parsed, understandingOptions(settings)), fromAddress: ADA,
    sender: {
      kind: 'contact', id: 3, address: ADA, name: 'Ada Admin', organisationId: 1, organisationName: 'Acme Industries',
      organisationTimeZone: 'Europe/Berlin', admin: true, active: true, entitled: true, bouncing: false,
    },
    recipients: [settings.addresses.support], ourMail: [], referenced: null, replyAddress: () => settings.addresses.support,
    ownAddresses: [settings.addresses.support, settings.addresses.escalation],
  };
}

const none = (): AdminCommandFacts => ({ openCases: [], openTotal: 0, contracts: [], lines: [], omittedLines: 0, known: new Map() });
const PASS = ['mx.vendor.example; dkim=pass header.d=acme.example'];

describe('the admin command action', () => {
  it('decides each add-contact line: new, repeated, engineer, own address, colleague, other organisation, no address', () => {
    const body = ['lee@acme.example, Lee', 'Lee Again <LEE@acme.example>', 'erin@vendor.example', settings.addresses.support, 'bob@acme.example', 'hank@globex.example', 'nonsense'].join('\n');
    const facts = intake('add contact', body, PASS);
    const auth = adminAuthentication(facts);
    expect(auth.ok).toBe(true);
    const parsed = contactLines(facts.understanding.reply.visibleText);
    const plan = adminCommand({ kind: 'admin-command', command: 'add-contact' }, facts, auth, {
      ...none(), lines: parsed.lines,
      known: new Map([
        ['erin@vendor.example', { kind: 'engineer', organisationId: null }],
        ['bob@acme.example', { kind: 'contact', organisationId: 1 }],
        ['hank@globex.example', { kind: 'contact', organisationId: 2 }],
      ]),
    });
    expect(plan.addContacts).toEqual([{ organisationId: 1, address: 'lee@acme.example', name: 'Lee' }]);
    expect(plan.openCases).toEqual([]);
    expect(plan.message).toEqual({ status: 'processed', caseId: null, reason: 'admin_command: add contact' });
    const data = plan.mails[0]!.data as AdminCommandResultData;
    expect(data.contacts.map((c) => c.result)).toEqual([
      'added', 'already a contact', 'not available', 'not available', 'already a contact', 'belongs to another organisation', 'invalid address',
    ]);
  });

  it('refuses without a pass: held, nothing added, no organisation data in the answer', () => {
    const facts = intake('add contact', 'lee@acme.example', ['mx.vendor.example; dkim=fail header.d=acme.example']);
    const auth = adminAuthentication(facts);
    const plan = adminCommand({ kind: 'admin-command', command: 'add-contact' }, facts, auth, null);
    expect(plan.message).toEqual({ status: 'held', caseId: null, reason: 'admin_unauthenticated' });
    expect(plan.addContacts).toBeUndefined();
    const data = plan.mails[0]!.data as AdminCommandResultData;
    expect(data).toMatchObject({ outcome: 'refused', contacts: [], licenses: [] });
    expect(data.refusal?.seen).toEqual(['dkim=fail (header.d=acme.example)']);
    expect(plan.events[0]).toMatchObject({ kind: 'admin_command_refused', caseId: null, data: { problem: 'no_pass', domain: 'acme.example' } });
  });

  it('counts licence days from today in the organisation\'s zone (already 1 December in Berlin)', () => {
    const facts = intake('licenses', '', PASS);
    const plan = adminCommand({ kind: 'admin-command', command: 'licenses' }, facts, adminAuthentication(facts), {
      ...none(), contracts: [
        { product: 'Server', startsOn: '2026-01-01', endsOn: '2026-12-01' },
        { product: 'Desktop', startsOn: '2024-01-01', endsOn: '2026-11-28' },
        { product: 'Cloud', startsOn: '2027-01-01', endsOn: '2027-12-31' },
      ],
    });
    const data = plan.mails[0]!.data as AdminCommandResultData;
    expect(data.todayLocal).toBe('2026-12-01 (Europe/Berlin)');
    expect(data.licenses.map((l) => [l.daysLeft, l.remaining])).toEqual([[0, 'last day today'], [-3, 'ended 3 days ago'], [395, 'starts in 31 days']]);
  });
});
