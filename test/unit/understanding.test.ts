// The shared understanding step: its options come from the configuration, each module is guarded,
// and inspect's built-in defaults are the schema's.
import { describe, expect, it } from 'vitest';
import { configSchema, loadConfig } from '../../src/config/config.js';
import { understandParsed, understandingOptions, NO_SUBJECT } from '../../src/threading/understanding.js';
import { DEFAULT_INSPECT_OPTIONS } from '../../src/inspect/inspect-options.js';
import { parseMessageSync } from '../../src/ingest/parse-message.js';

const mail = (headers: string[], body: string): Buffer => Buffer.from([...headers, 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n'));

describe('understandParsed', () => {
  it('uses the configured loop header, Message-ID domain and case prefix', () => {
    const settings = loadConfig({ env: {}, overrides: { loopHeader: 'X-Our-Loop', messageIdDomain: 'help.example', caseNumber: { prefix: 'Ticket' } } }).settings;
    const opts = understandingOptions(settings);
    expect(opts).toEqual({ ourMessageIdDomains: ['help.example'], loopHeader: 'X-Our-Loop', caseNumberPrefixes: ['Ticket'] });
    const looped = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: hi', 'X-Our-Loop: yes'], 'hello\r\n')), opts);
    expect(looped.classify.kind).toBe('loop');
    const ours = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: hi', 'Message-ID: <x1@help.example>'], 'hello\r\n')), opts);
    expect(ours.classify.kind).toBe('loop');
    const tagged = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: Re: [Ticket-100042] hi'], 'hello\r\n')), opts);
    expect(tagged.caseRef).toEqual({ number: 100042, source: 'subject' });
  });

  it('finds a mention in the new text when the subject has none, never in quoted history', () => {
    const opts = DEFAULT_INSPECT_OPTIONS.understanding;
    const body = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: escalate'], 'Please look at Case #100077 again.\r\n')), opts);
    expect(body.caseRef).toEqual({ number: 100077, source: 'body' });
    const quoted = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: hi'], 'New text.\r\n\r\nOn Mon, A wrote:\r\n> Case #100078\r\n')), opts);
    expect(quoted.caseRef).toBeNull();
  });

  it('gives each issue of a split request its own severity, and one issue the whole message with its severity', () => {
    const opts = DEFAULT_INSPECT_OPTIONS.understanding;
    const body = [
      'Hello support,', '', 'we have two issues since the upgrade to 4.2 last week:', '',
      '1. Production is down: the server crashes at start and no user can log in at all since this morning.', '',
      '2. A typo in the settings page: the label of the export button reads "Exprot" in the German version.', '',
      'Thanks, Bob',
    ].join('\r\n');
    const u = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject: Two problems after upgrade'], body)), opts);
    expect(u.issues).toHaveLength(2);
    expect(u.issues[0]!.severity.suggested).toBe(1);
    expect(u.issues[1]!.severity.suggested).toBe(3);
    const one = understandParsed(parseMessageSync(mail(['From: a@b.example', 'Subject:  '], 'The export is slow.\r\n')), opts);
    expect(one.issues).toEqual([{ title: NO_SUBJECT, text: one.reply.visibleText, severity: one.severity }]);
  });

  it('costs a failing module its field only', () => {
    const parsed = parseMessageSync(mail(['From: a@b.example', 'Subject: hi'], 'hello\r\n'));
    // A header map that throws when read: classification fails, the rest still runs.
    const broken = { ...parsed, headers: new Proxy({}, { get: () => { throw new Error('boom'); } }) };
    const u = understandParsed(broken, DEFAULT_INSPECT_OPTIONS.understanding);
    expect(u.errors).toEqual([{ code: 'classify_failed', message: 'boom' }]);
    expect(u.classify.kind).toBe('human');
    expect(u.reply.visibleText).toBe('hello');
    expect(u.issues).toHaveLength(1);
  });
});

describe('inspect defaults', () => {
  it('are what the schema gives without a configuration file', () => {
    const s = configSchema.parse({});
    expect(DEFAULT_INSPECT_OPTIONS).toEqual({ understanding: understandingOptions(s), parse: { maxParts: s.limits.maxMimeParts, maxDepth: s.limits.maxMimeDepth } });
  });
});
