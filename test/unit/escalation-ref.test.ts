import { describe, expect, it } from 'vitest';
import { escalationRefs } from '../../src/threading/escalation-ref.js';

describe('escalationRefs', () => {
  it('finds the tag in the subject as a key and looser mentions in the body as candidates', () => {
    expect(escalationRefs('Re: [Case #100042] Export fails', 'nothing here', ['Case'])).toEqual({ tagged: [100042], mentioned: [100042] });
    expect(escalationRefs('Please escalate', 'Our case 100042 and ticket 100043, also #100044.', ['Case'])).toEqual({ tagged: [], mentioned: [100042, 100043, 100044] });
    expect(escalationRefs('Escalate ticket#100050', '', ['Case'])).toEqual({ tagged: [], mentioned: [100050] });
  });
  it('ignores quoted history, short numbers and numbers glued to words', () => {
    const body = '> [Case #100001] old\nin case 300 users log in, issue#123456 and order 555555 matter\n';
    expect(escalationRefs('Escalation', body, ['Case'])).toEqual({ tagged: [], mentioned: [] });
  });
  it('knows the configured prefix', () => {
    expect(escalationRefs('[Ticket #200001] x', 'SR-200002', ['SR'])).toEqual({ tagged: [200001], mentioned: [200001, 200002] });
  });
});
