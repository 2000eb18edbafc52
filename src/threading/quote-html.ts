// Turns an HTML body into text for quote stripping, keeping what the structure says: blockquote
// content comes out `>`-prefixed, the containers clients wrap quoted history in (Outlook's
// divRplyFwdMsg, Yahoo's yahoo_quoted, OLK_SRC_BODY_SECTION, …) become a QUOTE_MARK line, client
// signature containers a SIGNATURE_MARK line, and <hr> a rule line. One forward scan, no regex on tags.

import { decodeEntities } from './quote-entities.js';
import { trimEndChars } from './quote-lines.js';
import { SIGNATURE_MARK } from './signature-detect.js';

/** The converter's mark for "the quoted history starts here" (a line of its own). */
export const QUOTE_MARK = '\u0001quote\u0001';

const BLOCK = new Set([
  'address', 'article', 'aside', 'blockquote', 'center', 'dd', 'div', 'dl', 'dt', 'fieldset', 'figure', 'footer', 'form',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'tbody', 'td',
  'tfoot', 'th', 'thead', 'tr', 'ul',
]);
/** Elements whose content is never text. */
const SKIP = new Set(['script', 'style', 'head', 'title', 'xml', 'template', 'noscript', 'object']);
const VOID = new Set(['br', 'hr', 'img', 'meta', 'link', 'input', 'base', 'col', 'area', 'wbr', 'source', 'param', 'embed']);

type Role = 'quote' | 'signature' | 'cite' | null;

/** What a start tag's attributes say about the element, from ids and classes clients use. */
function roleOf(name: string, attrs: string): Role {
  const a = attrs.toLowerCase();
  // The attribution line above a quote goes with the quote, so a bottom-posted answer survives.
  if (name === 'blockquote' || a.includes('moz-cite-prefix') || a.includes('gmail_attr')) return 'cite';
  if (a.includes('divrplyfwdmsg') || a.includes('olk_src_body_section') || a.includes('yahoo_quoted') ||
    a.includes('mail-editor-reference-message-container') || a.includes('appendonsend') ||
    a.includes('zmail_extra') || a.includes('protonmail_quote')) return 'quote';
  if (a.includes('gmail_signature') || a.includes('moz-signature') || a.includes('id="signature"') ||
    a.includes('applemailsignature') || a.includes('class="signature"')) return 'signature';
  return null;
}

/** White space other than a single space: where `\s+` -> ' ' would change the text. */
const NEEDS_COLLAPSE = /[^\S ]| {2}/;

interface OpenElement { name: string; role: Role }

/** Text of an HTML body, with quote structure kept as `>` prefixes and mark lines. */
export function htmlToQuoteText(html: string): string {
  const lines: string[] = [];
  let line = '';
  let lineDepth = 0;
  let depth = 0; // blockquote nesting
  let pre = 0;
  let quoteMarked = false;
  const stack: OpenElement[] = [];

  const flush = (): void => {
    const text = trimEndChars(line, ' \t');
    // Depth is capped so hostile nesting cannot make prefixes quadratic; one '>' already means quoted.
    lines.push(text === '' && lineDepth === 0 ? '' : '> '.repeat(Math.min(lineDepth, 8)) + text);
    line = '';
    lineDepth = depth;
  };
  const newline = (): void => {
    if (line.trim() !== '') flush();
    else { line = ''; lineDepth = depth; }
  };
  const breakLine = (): void => flush();
  const addText = (raw: string): void => {
    let t = raw.includes('&') ? decodeEntities(raw) : raw;
    // Collapsing white space changes nothing in text whose only white space is single spaces (most
    // text nodes): the replace, which builds a new string, is skipped then.
    if (pre === 0 && NEEDS_COLLAPSE.test(t)) t = t.replace(/\s+/g, ' ');
    // /^ +/ can only match a text that starts with a space.
    if ((line === '' || line.endsWith(' ')) && t.charCodeAt(0) === 32) t = t.replace(/^ +/, '');
    if (t === '') return;
    if (line === '') lineDepth = depth;
    if (pre > 0 && t.includes('\n')) {
      const parts = t.split('\n');
      parts.forEach((p, i) => { if (i > 0) flush(); line += p; });
      return;
    }
    line += t;
  };
  const mark = (m: string): void => { newline(); lines.push(m); };

  const lower = html.toLowerCase();
  let i = 0;
  const n = html.length;
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) { addText(html.slice(i)); break; }
    if (lt > i) addText(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) { addText(html.slice(lt)); break; }
    const inner = html.slice(lt + 1, gt);
    i = gt + 1;
    const closing = inner.startsWith('/');
    const nameMatch = /^\/?\s*([a-zA-Z][a-zA-Z0-9:-]{0,30})/.exec(inner);
    if (!nameMatch) { if (!/^[!?]/.test(inner)) addText('<' + inner + '>'); continue; }
    const name = (nameMatch[1] ?? '').toLowerCase();
    if (!closing && SKIP.has(name) && !inner.endsWith('/')) {
      const close = lower.indexOf('</' + name, i);
      i = close < 0 ? n : Math.max(i, html.indexOf('>', close) + 1 || n);
      continue;
    }
    if (closing) {
      // Close up to the matching element; tolerant of unclosed children.
      let k = stack.length - 1;
      const floor = Math.max(-1, stack.length - 64);
      while (k > floor && stack[k]?.name !== name) k--;
      if (k === floor) k = -1;
      if (k < 0) { if (BLOCK.has(name)) newline(); continue; }
      while (stack.length > k) {
        const el = stack.pop();
        if (el?.role === 'cite') { newline(); depth = Math.max(0, depth - 1); lineDepth = depth; }
        if (el?.name === 'pre') pre = Math.max(0, pre - 1);
      }
      if (BLOCK.has(name)) newline();
      if (name === 'p') breakLine();
      continue;
    }
    if (name === 'br') { breakLine(); continue; }
    if (name === 'hr') { newline(); lines.push('________________________________'); continue; }
    if (VOID.has(name) || inner.endsWith('/')) continue;
    const role = inner.length > nameMatch[0].length ? roleOf(name, inner.slice(nameMatch[0].length)) : (name === 'blockquote' ? 'cite' : null);
    if (role === 'quote' && !quoteMarked && depth === 0) { quoteMarked = true; mark(QUOTE_MARK); }
    if (role === 'signature' && depth === 0) mark(SIGNATURE_MARK);
    if (BLOCK.has(name)) newline();
    if (role === 'cite') { depth++; lineDepth = depth; }
    if (name === 'pre') pre++;
    stack.push({ name, role });
    if (stack.length > 2000) stack.splice(0, 1000); // malformed input: bound the work per close tag
  }
  newline();
  // Collapse runs of blank lines left by nested blocks.
  const out: string[] = [];
  for (const l of lines) if (!(l === '' && out.at(-1) === '')) out.push(l);
  return out.join('\n').trim();
}
