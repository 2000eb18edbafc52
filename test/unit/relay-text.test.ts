// The relayed plain text (src/threading/relay-text.ts): trimmed body, signature appended.
import { describe, expect, it } from 'vitest';
import { relayText, relayTextWithSignature } from '../../src/threading/relay-text.js';
import { parseEngineerCommands } from '../../src/threading/engineer-commands.js';
import { extractReply } from '../../src/threading/reply-text.js';

describe('relayText', () => {
  it('trims trailing whitespace and leading blank lines, keeps inner layout', () => {
    expect(relayText('\n  \nHello Ana,\n\n  indented line\n\n\n \t')).toBe('Hello Ana,\n\n  indented line');
  });

  it('normalises CRLF', () => {
    expect(relayText('a\r\nb\r\n')).toBe('a\nb');
  });
});

describe('relayTextWithSignature', () => {
  it('appends the signature after a blank line, keeping the "-- " separator', () => {
    expect(relayTextWithSignature('Please try 4.2.\n\n', '-- \nErin Example\nSupport Engineer\n')).toBe('Please try 4.2.\n\n-- \nErin Example\nSupport Engineer');
  });

  it('without a signature is relayText', () => {
    expect(relayTextWithSignature('Done.  \n', null)).toBe('Done.');
    expect(relayTextWithSignature('Done.', '  \n')).toBe('Done.');
  });

  it('a reply with only commands relays nothing, signature or not', () => {
    expect(relayTextWithSignature('', '-- \nErin')).toBe('');
  });

  it('end to end from an engineer reply: commands and quoted notification gone, signature kept', () => {
    const text = [
      '#severity 2', '#need-info', '', 'Hello Ana,', '', 'could you send the server log from Monday?', '', '-- ', 'Erin Example', 'Acme Support', '',
      'On Mon, 30 Nov 2026 at 09:00, Support <support@acme.example> wrote:', '> [Case #100042] New case from Ana', '> Severity 2',
    ].join('\n');
    const reply = extractReply({ text, html: null });
    const parse = parseEngineerCommands(reply.visibleText);
    expect(parse.ok).toBe(true);
    if (!parse.ok) return;
    const relayed = relayTextWithSignature(parse.body, reply.signature);
    expect(relayed.startsWith('Hello Ana,\n\ncould you send the server log from Monday?')).toBe(true);
    expect(relayed).toContain('Erin Example');
    expect(relayed).not.toContain('#need-info');
    expect(relayed).not.toContain('New case from Ana');
  });
});
