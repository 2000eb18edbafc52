// Case references (spec section 2): tolerant formats, subject before body, no false positives.
import { describe, expect, it } from 'vitest';
import { findCaseRef } from '../../src/threading/case-ref.js';

describe('findCaseRef', () => {
  it.each([
    ['[Case #100042] Export fails', 100042],
    ['Re: [Case #100042] Export fails', 100042],
    ['Case #100042', 100042],
    ['Case#100042', 100042],
    ['about case 100042 please', 100042],
    ['CASE-100042 still open', 100042],
    ['Incident# 100042', 100042],
    ['incident 100042', 100042],
    ['Case: 100042', 100042],
    ['Case No. 100042', 100042],
    ['[ACME #100043] follow-up', 100043],
    ['acme-100043', 100043],
    ['Acme 100043', 100043],
  ])('reads %j', (subject, number) => {
    expect(findCaseRef(subject, '', ['ACME'])).toEqual({ number, source: 'subject' });
  });

  it.each([
    'in case 2 of them fail',
    'in case 300 users log in at once',
    'just in case 2026 is different',
    'showcase 100042',
    'TestCase100042',
    'case 100042abc',
    'case 1000.5 kg',
    'Ticket #100042',
    'our case study of 12 customers',
  ])('finds nothing in %j', (subject) => {
    expect(findCaseRef(subject, '', ['ACME'])).toBeNull();
  });

  it('accepts four digits only with an explicit marker', () => {
    expect(findCaseRef('Case #4711', '', [])).toEqual({ number: 4711, source: 'subject' });
    expect(findCaseRef('case 4711', '', [])).toBeNull();
    expect(findCaseRef('case 47110', '', [])).toEqual({ number: 47110, source: 'subject' });
  });

  it('prefers the subject over the body', () => {
    expect(findCaseRef('Re: [Case #100042]', 'see also Case #100007', [])).toEqual({ number: 100042, source: 'subject' });
  });

  it('falls back on the body, ignoring quoted lines', () => {
    const body = 'Please escalate.\n> On our side this was Case #100001\nIt is about case 100099.\n';
    expect(findCaseRef('Escalation', body, [])).toEqual({ number: 100099, source: 'body' });
    expect(findCaseRef('Escalation', '> Case #100001 only quoted', [])).toBeNull();
  });

  it('prefers a bracketed tag over an earlier bare mention', () => {
    expect(findCaseRef('Case 100001 is like [Case #100042]', '', [])).toEqual({ number: 100042, source: 'subject' });
  });

  it('ignores prefixes with regex characters safely and empty prefixes', () => {
    expect(findCaseRef('[SUP+ #100050]', '', ['SUP+', ''])).toEqual({ number: 100050, source: 'subject' });
  });

  it('returns null for nothing', () => {
    expect(findCaseRef('', '', [])).toBeNull();
  });
});
