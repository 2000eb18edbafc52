// The reply marker (src/threading/reply-marker.ts): every rendered mail carries it, and a reply
// that kept it is cut exactly there before the heuristics, in the shapes the common clients quote
// our mail: plain ">" (test/fixtures/mail/quotes/marker-gt-quoted.txt), Outlook's header block
// (marker-outlook-block.txt) and Gmail's HTML blockquote (marker-gmail-blockquote.html).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractReply } from '../../src/threading/reply-text.js';
import { htmlToQuoteText } from '../../src/threading/quote-html.js';
import { findReplyMarker, isReplyMarkerLine, REPLY_MARKER } from '../../src/threading/reply-marker.js';
import { relayText } from '../../src/threading/relay-text.js';
import { relayHtml } from '../../src/notify/relay-html.js';
import { loadMailTemplates, SAMPLE_MAIL_DATA } from '../../src/notify/templates.js';
import { MAIL_KINDS } from '../../src/notify/mail-kinds.js';
import { parseMessage } from '../../src/ingest/parse-message.js';

const dir = new URL('../fixtures/mail/quotes/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, dir), 'utf8');
const NEW_TEXT = 'Product: Exporter 5.2.1 on Windows Server 2022.\nThe error shows up when the PDF has more than 200 pages.';

describe('the marker line', () => {
  it('is recognised plain, quoted at any depth, under "|" and emphasis, in another case', () => {
    for (const line of [REPLY_MARKER, `> ${REPLY_MARKER}`, `> > >${REPLY_MARKER}`, `| ${REPLY_MARKER}`, `*${REPLY_MARKER}*`, REPLY_MARKER.toUpperCase()]) {
      expect(isReplyMarkerLine(line), line).toBe(true);
    }
  });
  it('is not prose that quotes its words', () => {
    expect(isReplyMarkerLine('They asked me to please type your reply above this line, so here it is')).toBe(false);
    expect(findReplyMarker(['Hello', '## Heading', ''])).toBe(-1);
  });
});

describe('every rendered mail kind carries the marker above its text, in text and HTML', () => {
  const templates = loadMailTemplates(new URL('../../templates/', import.meta.url).pathname);
  it.each([...MAIL_KINDS])('%s', (kind) => {
    const mail = templates.render(kind, SAMPLE_MAIL_DATA[kind] as never);
    expect(mail.text.split('\n')[0]).toBe(REPLY_MARKER);
    const fromHtml = htmlToQuoteText(mail.html).split('\n').filter((l) => l.trim() !== '');
    expect(fromHtml[0]).toBe(REPLY_MARKER);
  });
});

describe('a reply that kept the marker is cut exactly there', () => {
  it('plain ">" quoting (Thunderbird, Gmail text part): the attribution above the marker goes too', () => {
    const r = extractReply({ text: read('marker-gt-quoted.txt'), html: null });
    expect(r.visibleText).toBe(`${NEW_TEXT}\n\nDana`);
    expect(r.removedText).toContain('On 30.11.2026 09:14, Support wrote:');
    expect(r.removedText).toContain(`> ${REPLY_MARKER}`);
  });
  it("Outlook's header block over our unquoted text", () => {
    const r = extractReply({ text: read('marker-outlook-block.txt'), html: null });
    expect(r.visibleText).toBe('Product: Exporter 5.2.1 on Windows Server 2022.\n\nDana Fischer\nExample Org');
    expect(r.removedText).toContain('Sent: Monday, November 30, 2026 9:02 AM');
  });
  it("Gmail's HTML blockquote: the marker comes through the converter quoted, and the cut holds with or without the text part", () => {
    const html = read('marker-gmail-blockquote.html');
    expect(htmlToQuoteText(html).split('\n')).toContain(`> ${REPLY_MARKER}`);
    expect(extractReply({ text: '', html }).visibleText).toBe(`${NEW_TEXT}\n\nDana`);
    expect(extractReply({ text: read('marker-gt-quoted.txt'), html }).visibleText).toBe(`${NEW_TEXT}\n\nDana`);
  });
  it("Outlook's HTML header block over our unquoted body, without the reply container's id", () => {
    const html = read('marker-outlook-html-unmarked.html');
    expect(extractReply({ text: '', html }).visibleText).toBe('Product: Exporter 5.2.1 on Windows Server 2022.');
    // An engineer's HTML relay never carries our notification: cut before the marker or not sent as HTML at all.
    expect(relayHtml(html, 0) ?? '').not.toContain('Please type your reply');
  });
  it('a whole Gmail reply (text and HTML parts, base64) cuts at the marker', async () => {
    const parsed = await parseMessage(readFileSync(new URL('gmail-reply-above-marker.eml', dir)));
    const r = extractReply({ text: parsed.text, html: parsed.html });
    expect(r.visibleText).toBe(`${NEW_TEXT}\n\nDana`);
    expect(r.removedText).toContain(REPLY_MARKER);
  });
  it('before any heuristic: a quoting shape the heuristics miss is cut at the marker, and kept whole without it', () => {
    const text = read('marker-pipe-quoted.txt');
    // The attribution paragraph right above the marker goes with it, though alone it is too loose to trust.
    expect(extractReply({ text, html: null }).visibleText).toBe('Product: Exporter 5.2.1 on Windows Server 2022.');
    const withoutMarker = text.replace(`| ${REPLY_MARKER}\n`, '');
    expect(extractReply({ text: withoutMarker, html: null }).visibleText).toContain('thank you for contacting support');
  });
  it('keeps a sentence that says "wrote" right above the marker when no attribution came between', () => {
    const text = `As I wrote yesterday, the export hangs.\n\n> ${REPLY_MARKER}\n> Hello Dana Fischer,`;
    expect(extractReply({ text, html: null }).visibleText).toBe('As I wrote yesterday, the export hangs.');
  });
  it('an answer written below our quoted mail is kept (bottom post)', () => {
    const r = extractReply({ text: read('marker-bottom-post.txt'), html: null });
    expect(r.visibleText).toBe('Product: Exporter 5.2.1 on Windows Server 2022.');
  });
  it('our mail quoted back with nothing new is empty: our own text is never the sender\'s', () => {
    const r = extractReply({ text: read('marker-only-quote.txt'), html: null });
    expect(r.visibleText).toBe('');
    expect(r.removedText).toContain(REPLY_MARKER);
  });
  it('the relayed text of an engineer reply never carries our notification past the marker', () => {
    expect(relayText(`Fixed in 5.2.2.\n\n> ${REPLY_MARKER}\n> [Case #100042] New case`)).toBe('Fixed in 5.2.2.');
  });
});
