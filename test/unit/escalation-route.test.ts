// Which mail is an escalation (spec sections 1 and 7): every recipient header and the envelope
// count, so a Bcc or an alias the MTA rewrote is still one; automatic mail never is.
import { describe, expect, it } from 'vitest';
import { routeMessage, type RouteFacts } from '../../src/threading/route-message.js';
import { recipientsOf } from '../../src/threading/message-facts.js';
import type { AutomaticClassification } from '../../src/threading/automatic.js';
import { buildMessage } from '../support/parsed-message-builder.js';

const ESC = 'escalation@casemail.localhost';
const human: AutomaticClassification = { kind: 'human', automated: false, mailingList: false, reasons: [], bounce: null };
const autoReply: AutomaticClassification = { kind: 'auto-reply', automated: true, mailingList: false, reasons: ['auto-submitted: auto-replied'], bounce: null };
const facts = (recipients: string[], over: Partial<RouteFacts> = {}): RouteFacts => ({
  auto: human, recipients, escalationAddress: ESC, sender: { kind: 'unknown' }, referenced: null,
  reopenWindowDays: 7, now: new Date('2026-11-30T09:00:00Z'), ...over,
});

describe('escalation routing', () => {
  it('finds the escalation address only in Delivered-To or X-Original-To (a Bcc, a rewritten alias)', () => {
    const bcc = { ...buildMessage(), to: [{ address: 'carol@acme.example', name: '' }], cc: [], deliveredTo: ['Escalation@Casemail.localhost'] };
    expect(routeMessage(facts(recipientsOf(bcc, [])))).toEqual({ kind: 'escalation', caseId: null });
    const rewritten = { ...buildMessage(), to: [{ address: 'carol@acme.example', name: '' }], cc: [], deliveredTo: ['support@casemail.localhost', ESC] };
    expect(routeMessage(facts(recipientsOf(rewritten, ['support@casemail.localhost'])))).toEqual({ kind: 'escalation', caseId: null });
  });
  it('finds it in the SMTP envelope alone, and takes configured escalation aliases', () => {
    expect(routeMessage(facts(['carol@acme.example', ESC]))).toEqual({ kind: 'escalation', caseId: null });
    expect(routeMessage(facts(['urgent@casemail.localhost'], { escalationAliases: ['urgent@casemail.localhost'] }))).toEqual({ kind: 'escalation', caseId: null });
    expect(routeMessage(facts(['urgent@casemail.localhost'])).kind).toBe('hold');
  });
  it('any sender escalates, engineers included; automatic mail to it is never an escalation', () => {
    expect(routeMessage(facts([ESC], { sender: { kind: 'engineer', active: true } })).kind).toBe('escalation');
    expect(routeMessage(facts([ESC], { sender: { kind: 'contact', organisationId: 1, admin: false, active: true, entitled: false } })).kind).toBe('escalation');
    expect(routeMessage(facts([ESC], { auto: autoReply }))).toEqual({ kind: 'automatic', caseId: null, refusedCaseId: null });
  });
});
