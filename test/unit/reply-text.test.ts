// Quote and signature stripping (src/threading/reply-text.ts) against hand-written fixtures in
// test/fixtures/mail/reply/: one fixture per client quirk, plain-text bodies (.txt) and HTML bodies (.html).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractReply, MAX_ANALYSED_TEXT } from '../../src/threading/reply-text.js';

const dir = new URL('../fixtures/mail/reply/', import.meta.url);
function load(name: string): { text: string; html: string | null } {
  const body = readFileSync(new URL(name, dir), 'utf8');
  return name.endsWith('.html') ? { text: '', html: body } : { text: body, html: null };
}

interface Case { file: string; visible: string; signature?: string | null; removedHas?: string }

const cases: Case[] = [
  { file: 'gmail-top-post-en.txt', visible: 'The export finished after the restart, thank you.', removedHas: '> Could you restart' },
  { file: 'attribution-wrapped-three-lines.txt', visible: 'Confirmed, the patch fixes the login loop.', removedHas: 'at 16:05,' },
  { file: 'attribution-gmail-wrapped-address-no.txt', visible: 'Takk, it works now.' },
  { file: 'attribution-zimbra-dash-fr.txt', visible: 'Bonjour,\n\nLe correctif fonctionne chez nous.\n\nClaire Martin' },
  { file: 'attribution-de-unquoted-history.txt', visible: 'Vielen Dank, das Problem ist behoben.', removedHas: 'Update 5.1' },
  { file: 'attribution-es.txt', visible: 'Ya funciona, gracias.' },
  { file: 'outlook-block-nl.txt', visible: 'De upload werkt weer.', removedHas: 'Verzonden:' },
  { file: 'attribution-pl.txt', visible: 'Dziękuję, działa.' },
  { file: 'attribution-sv.txt', visible: 'Det fungerar nu.' },
  { file: 'outlook-block-zh.txt', visible: '问题已经解决了。' },
  { file: 'outlook-original-message.txt', visible: 'The license key was accepted.', removedHas: '-----Original Message-----' },
  { file: 'outlook-underscore-bold-fields.txt', visible: 'Ticket can be closed.', removedHas: '*Sent:*' },
  { file: 'hotmail-quoted-header-block.txt', visible: 'Still failing after the update.' },
  { file: 'windows-mail-sent-from.txt', visible: 'Great, trying it now.\nPriya', signature: 'Sent from Mail for Windows', removedHas: 'Here is the fix.' },
  { file: 'iphone-sent-from.txt', visible: 'Works, thanks', signature: 'Sent from my iPhone' },
  { file: 'sent-from-in-sentence.txt', visible: 'I will check on Monday.\n\nSent from my laptop, which is the only place I can reach the VPN from.', signature: null },
  { file: 'signature-dash-dash-space.txt', visible: 'The -- flag is not documented.', signature: '--\nOmar Haddad\nACME Ltd' },
  { file: 'signature-dash-dash-no-blank.txt', visible: 'Backups run nightly now.', signature: '--\nOmar' },
  { file: 'signature-dash-name-list-footer.txt', visible: 'How do I rotate the API key without downtime?', removedHas: 'mailing list' },
  { file: 'signature-sign-off.txt', visible: 'Lena,\n\nThe report is attached. Please let me know if you need more.', signature: 'Kind regards,\nTomas' },
  { file: 'signature-contact-block.txt', visible: 'The gateway times out every night at 02:00 since the upgrade.', signature: 'Tomas Berg\ntomas.berg@example.org\n+46 8 555 0199\nwww.example.org' },
  { file: 'bottom-post.txt', visible: 'Yes, it still fails at step 3.', removedHas: 'Does the job still fail?' },
  { file: 'greeting-above-bottom-post.txt', visible: 'Hi,\nAttached is the log from this morning. The error starts\nat 08:14 when the sync job runs.', signature: 'Best,\nLena', removedHas: '> Could you send us the log file?' },
  { file: 'quote-continuation-lines.txt', visible: 'The fix works on all three nodes.', removedHas: 'condari.' },
  { file: 'quoted-apple-header.txt', visible: 'Thanks, that solved it.' },
  { file: 'attribution-ja-no-verb-word.txt', visible: 'Thank you very much.' },
  { file: 'attribution-date-address-only.txt', visible: 'Fixed now.' },
  { file: 'lone-from-line.txt', visible: '' },
  { file: 'attribution-quoting-horde.txt', visible: "Agreed, let's ship it." },
  { file: 'html-gmail-quote.html', visible: 'It works now.\n\nThanks,\nMia', signature: null },
  { file: 'html-outlook-divrplyfwdmsg.html', visible: 'Restart done, the queue drains again.', removedHas: 'Please restart the worker.' },
  { file: 'html-thunderbird-bottom-post.html', visible: 'Yes, it is online.' },
  { file: 'html-hr-header-block.html', visible: 'Still broken.' },
  { file: 'html-yahoo-quoted.html', visible: 'Done, thanks.' },
  { file: 'html-gmail-signature.html', visible: 'The certificate was renewed.', signature: '--\nNoor Ali\nOperations' },
];

describe('extractReply on client fixtures', () => {
  it.each(cases)('$file', ({ file, visible, signature, removedHas }) => {
    const r = extractReply(load(file));
    expect(r.visibleText).toBe(visible);
    if (signature !== undefined) expect(r.signature).toBe(signature);
    if (removedHas !== undefined) expect(r.removedText).toContain(removedHas);
  });
});

describe('forwarded messages are new content', () => {
  it('keeps a Gmail-style forwarded block in plain text', () => {
    const r = extractReply(load('forward-gmail-text.txt'));
    expect(r.visibleText).toContain('---------- Forwarded message ---------');
    expect(r.visibleText).toContain('Disk /var is 98% full.');
  });
  it('keeps an Apple Mail "Begin forwarded message:" block even though it is >-quoted', () => {
    const r = extractReply(load('forward-apple-text.txt'));
    expect(r.visibleText).toContain('Begin forwarded message:');
    expect(r.visibleText).toContain('Disk /var is 98% full.');
  });
  it('keeps a forward inside Gmail\'s gmail_quote container', () => {
    const r = extractReply(load('html-gmail-forward.html'));
    expect(r.visibleText).toContain('Our monitoring sent this overnight.');
    expect(r.visibleText).toContain('Disk /var is 98% full.');
  });
});

describe('interleaved and prose cases', () => {
  it('keeps an inline reply with the quotes it answers, drops the trailing quote and signature', () => {
    const r = extractReply(load('inline-reply.txt'));
    expect(r.visibleText.startsWith('On Mon, Mar 2, 2026')).toBe(true);
    expect(r.visibleText).toContain('> Which version are you running?\n\n4.2.0');
    expect(r.visibleText.endsWith('Only on the nightly run.')).toBe(true);
    expect(r.removedText).toContain('The nightly export fails.');
    expect(r.signature).toBe('--\nOmar');
  });
  it('keeps the quote between an answer above it and one below it: only a salutation above makes a bottom post', () => {
    const text = 'The export works again since the update.\n> Does the import work too?\nNo, the import still fails.';
    const r = extractReply({ text, html: null });
    expect(r.visibleText).toBe(text);
  });
  it('does not take "On Thursday:" or an unquoted "Someone wrote:" for a reply header', () => {
    const r = extractReply(load('prose-colon-not-header.txt'));
    expect(r.visibleText).toBe(readFileSync(new URL('prose-colon-not-header.txt', dir), 'utf8').trim());
    expect(r.removedText).toBe('');
  });
  it('keeps pasted headers that the text introduces with a colon', () => {
    const r = extractReply(load('pasted-headers-after-colon.txt'));
    expect(r.visibleText).toContain('Subject: Undelivered Mail Returned to Sender');
    expect(r.removedText).toBe('');
  });
  it('guesses sign-offs in plain text only: in HTML a typed "Thanks,\\nName" is content', () => {
    const html = '<div>Done.</div><div><br></div><div>Thanks,</div><div>Mia</div>';
    expect(extractReply({ text: 'Done.\n\nThanks,\nMia', html: null }).visibleText).toBe('Done.');
    expect(extractReply({ text: 'Done.\n\nThanks,\nMia', html }).visibleText).toBe('Done.\n\nThanks,\nMia');
  });
  it('prefers the HTML structure when text derived from it lost the blockquote', () => {
    const html = '<p>Fine now.</p><p>26.06.2026, 14:41, "Support" &lt;s@example.test&gt;:</p><blockquote>Is it fixed?<br>Support.</blockquote>';
    const flattened = 'Fine now.\n\n26.06.2026, 14:41, "Support" <s@example.test>:\n\n> Is it fixed?\nSupport.';
    expect(extractReply({ text: flattened, html }).visibleText).toBe('Fine now.');
  });
  it('handles CRLF line endings', () => {
    const r = extractReply({ text: 'Yes.\r\n\r\nOn Mon, Mar 2, 2026 at 9:00 AM, A <a@example.test> wrote:\r\n> Works?\r\n', html: null });
    expect(r.visibleText).toBe('Yes.');
  });
});

describe('long messages: only a window at the top is analysed', () => {
  const logLines = (n: number): string => Array.from({ length: n }, (_, i) => `2026-03-02 10:00:${String(i % 60).padStart(2, '0')} worker ${i} WARN queue depth high`).join('\n');
  const long = logLines(Math.ceil((MAX_ANALYSED_TEXT * 2) / 50));

  it('keeps a long pasted log without history as new text, to its end', () => {
    const text = 'The worker log from last night:\n\n' + long + '\n\nRegards,\nIvo';
    const r = extractReply({ text, html: null });
    expect(text.length).toBeGreaterThan(MAX_ANALYSED_TEXT);
    expect(r.visibleText.startsWith('The worker log from last night:')).toBe(true);
    expect(r.visibleText.endsWith('Regards,\nIvo')).toBe(true);
    expect(r.removedText).toBe('');
  });
  it('puts everything after a quote found in the window into the removed history', () => {
    const text = 'Restarted, works now.\n\nOn Mon, 2 Mar 2026 at 09:00, Support <s@example.test> wrote:\n' + long.replace(/^/gm, '> ');
    const r = extractReply({ text, html: null });
    expect(r.visibleText).toBe('Restarted, works now.');
    expect(r.removedText.endsWith('WARN queue depth high')).toBe(true);
  });
  it('keeps an answer below a quote that runs past the window', () => {
    const text = 'On Mon, 2 Mar 2026 at 09:00, Support <s@example.test> wrote:\n> Can you send the log?\n\nHere it is:\n' + long;
    const r = extractReply({ text, html: null });
    expect(r.visibleText.startsWith('Here it is:')).toBe(true);
    expect(r.visibleText.endsWith(long.slice(-200))).toBe(true);
    expect(r.removedText).toContain('> Can you send the log?');
  });
});

describe('hostile input', () => {
  it('splits a body whose quote is one enormous line of ">" characters', () => {
    const text = 'Hello\n\nIs it done?\n' + '>'.repeat(300_000) + 'tail\n';
    expect(extractReply({ text, html: null }).visibleText).toBe('Hello\n\nIs it done?');
  });
  it('keeps a body with a long run of spaces and colons intact', () => {
    const text = 'On ' + 'a:'.repeat(50_000) + '\n' + ' '.repeat(100_000) + 'x';
    const r = extractReply({ text, html: null });
    expect(r.visibleText.endsWith('x')).toBe(true);
    expect(r.removedText).toBe('');
  });
  it('survives deeply nested and unbalanced HTML', () => {
    const html = '<blockquote>'.repeat(5_000) + 'old' + '</span>'.repeat(5_000);
    const r = extractReply({ text: '', html: '<p>new</p>' + html });
    expect(r.visibleText).toBe('new');
  });
});
