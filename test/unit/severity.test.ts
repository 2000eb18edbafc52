// Severity suggestion (spec section 2): explicit markers win, then impact phrases, default 3.
import { describe, expect, it } from 'vitest';
import { suggestSeverity } from '../../src/threading/severity.js';

describe('suggestSeverity: explicit markers', () => {
  it.each([
    ['Severity 1: cannot log in', '', 1],
    ['Sev 2 - reports slow', '', 2],
    ['SEV1 payments', '', 1],
    ['Sev-3 question', '', 3],
    ['S1 all servers', '', 1],
    ['S2: export broken', '', 2],
    ['P1 incident', '', 1],
    ['P2', '', 2],
    ['P4 cosmetic', '', 3],
    ['Question', 'Priority: high\nThe export is wrong.', 2],
    ['Question', 'Priority: urgent', 1],
    ['Question', 'priority: low, but production is down', 3],
    ['Question', 'Severity: critical', 1],
    ['Question', 'This is a high priority request.', 2],
    ['Question', 'Prio 1 please', 1],
  ])('%j / %j -> %i', (subject, text, level) => {
    const s = suggestSeverity(subject, text);
    expect(s.suggested).toBe(level);
    expect(s.reasons[0]).toMatch(/^explicit /);
  });

  it('the subject marker wins over the text', () => {
    expect(suggestSeverity('Sev 2: slow', 'Severity 1 please').suggested).toBe(2);
  });

  it('does not read S3 (Amazon) or part numbers as markers', () => {
    expect(suggestSeverity('S3 bucket upload question', 'Model P100 and S1000').suggested).toBe(3);
    expect(suggestSeverity('Question about HP1 printers', '').reasons).toEqual(['default']);
  });

  it('honours "not a sev 1"', () => {
    expect(suggestSeverity('This is not a Sev 1', '').suggested).toBe(3);
  });
});

describe('suggestSeverity: phrases', () => {
  it.each([
    ['Production down', '', 1, 'production down'],
    ['Help', 'Our production system is down since 9:00.', 1, 'production down'],
    ['Help', 'The system is down for all users.', 1, 'system down'],
    ['Outage', '', 1, 'outage'],
    ['Help', 'This is critical for us.', 1, 'critical'],
    ['Help', 'Nobody can log in since the update.', 1, 'no one can work'],
    ['Help', 'The dashboard is degraded since yesterday.', 2, 'degraded'],
    ['Help', 'Uploads fail intermittently.', 2, 'intermittent'],
    ['Urgent: export', '', 2, 'urgent'],
  ])('%j / %j -> %i', (subject, text, level, label) => {
    const s = suggestSeverity(subject, text);
    expect(s.suggested).toBe(level);
    expect(s.reasons.join(' ')).toContain(label);
  });

  it.each([
    ['Help', 'This is not critical, just curious.'],
    ['Help', 'A non-critical typo on the login page.'],
    ['Help', "It isn't critical."],
    ['Help', 'During the planned outage the backup job did not run.'],
    ['Help', 'Not urgent: how do I change my password?'],
    ['Help', '> Production is down (quoted from an old mail)\nHow do I export?'],
    ['Help', 'no outage was reported, we only have a question'],
  ])('%j / %j stays at 3', (subject, text) => {
    expect(suggestSeverity(subject, text)).toEqual({ suggested: 3, reasons: ['default'] });
  });

  it('the strongest phrase wins and all matching reasons are kept', () => {
    const s = suggestSeverity('Outage', 'Very slow, and the service is down. Critical!');
    expect(s.suggested).toBe(1);
    expect(s.reasons).toEqual(expect.arrayContaining(['"outage" in subject', '"system down" in text', '"critical" in text']));
    expect(s.reasons.some((r) => r.includes('performance'))).toBe(false);
  });

  it('"no idea why production is down" is still production down', () => {
    expect(suggestSeverity('Help', 'We have no idea why production is down.').suggested).toBe(1);
  });

  it('defaults to 3', () => {
    expect(suggestSeverity('How do I add a user?', 'Thanks')).toEqual({ suggested: 3, reasons: ['default'] });
  });

  it('stays fast on long whitespace runs', () => {
    const s = suggestSeverity(`sev${' '.repeat(100_000)}x`, `priority${' '.repeat(100_000)}`);
    expect(s.suggested).toBe(3);
  });
});
