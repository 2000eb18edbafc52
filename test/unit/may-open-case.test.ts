// Which messages of an intake group take their sender's lock up front (mayOpenCase): only those
// that name no case and are not automatic; a reply is left to try the lock should it open one.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { understandParsed, understandingOptions } from '../../src/threading/understanding.js';
import { parseMessageSync } from '../../src/ingest/parse-message.js';
import { mayOpenCase } from '../../src/cases/intake-facts.js';
import { buildMail } from '../support/mail-builder.js';

const opts = understandingOptions(loadConfig({ env: {} }).settings);
const understand = (raw: Buffer) => understandParsed(parseMessageSync(raw), opts);

describe('mayOpenCase', () => {
  it('is true for a fresh request', () => {
    expect(mayOpenCase(understand(buildMail({ subject: 'Export fails' })))).toBe(true);
  });

  it('is false for a message that names a case by its headers or its subject tag', () => {
    expect(mayOpenCase(understand(buildMail({ subject: 'Re: Export fails', inReplyTo: '<ack-1@casemail.localhost>' })))).toBe(false);
    expect(mayOpenCase(understand(buildMail({ subject: 'Re: Export fails', references: '<req-1@acme.example>' })))).toBe(false);
    expect(mayOpenCase(understand(buildMail({ subject: 'Re: Export fails [Case #100042]' })))).toBe(false);
  });

  it('is false for automatic mail', () => {
    expect(mayOpenCase(understand(buildMail({ subject: 'Automatic reply: Export fails', headers: { 'Auto-Submitted': 'auto-replied' } })))).toBe(false);
  });
});
