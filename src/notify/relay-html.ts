// The HTML half of a relayed engineer reply: sanitised with sanitize-html (an allowlist: nothing
// runs, nothing loads but http(s)/cid images) and cut down to the engineer's new text: the quoted
// notification and everything after it, and the command lines at the top, are removed in the same
// streaming pass. No I/O; when the cut is not certain the answer is null and only the text is sent.
import sanitizeHtml from 'sanitize-html';
import { htmlToQuoteText } from '../threading/quote-html.js';
import { attributionStrength, headerField } from '../threading/quote-lines.js';
import { splitReply } from '../threading/reply-split.js';

/** Larger HTML is not worth the risk of a wrong cut (and the quote detector reads less anyway). */
export const MAX_RELAY_HTML_CHARS = 512 * 1024;

const ALLOWED_TAGS = [
  'a', 'abbr', 'b', 'bdi', 'bdo', 'big', 'blockquote', 'br', 'caption', 'center', 'cite', 'code', 'col', 'colgroup', 'dd', 'del',
  'div', 'dl', 'dt', 'em', 'font', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p',
  'pre', 'q', 's', 'samp', 'small', 'span', 'strike', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead',
  'tr', 'tt', 'u', 'ul',
];

// Our own bookkeeping on elements during the pass; incoming attributes of these names are deleted first.
const DROP = 'data-casemail-drop';
const CUT = 'data-casemail-cut';
const RULE = 'data-casemail-rule';

const CELL = ['colspan', 'rowspan', 'align', 'valign', 'width', 'height', 'bgcolor'];
const ALLOWED_ATTRIBUTES: sanitizeHtml.IOptions['allowedAttributes'] = {
  '*': ['dir', 'lang', 'title', 'style', DROP, CUT, RULE],
  a: ['href', 'name'],
  img: ['src', 'alt', 'width', 'height'],
  font: ['color', 'face', 'size'],
  table: ['border', 'cellpadding', 'cellspacing', 'width', 'align', 'bgcolor'],
  td: CELL, th: CELL, tr: ['align', 'valign', 'bgcolor'], col: ['span', 'width'], colgroup: ['span', 'width'],
  p: ['align'], div: ['align'], ol: ['start', 'type'], li: ['value'],
};

// Formatting survives; nothing in a style may fetch or position anything (no url(), no position).
const COLOUR = [/^#[0-9a-f]{3,8}$/i, /^[a-z]+$/i, /^rgba?\(\s*[\d.%\s,]+\)$/i];
const LENGTH = [/^-?[\d.]+(?:px|pt|em|rem|%)?$/i];
const ALLOWED_STYLES: sanitizeHtml.IOptions['allowedStyles'] = {
  '*': {
    color: COLOUR, 'background-color': COLOUR,
    'font-weight': [/^(?:normal|bold|bolder|lighter|\d{3})$/i], 'font-style': [/^(?:normal|italic|oblique)$/i],
    'font-size': [...LENGTH, /^(?:x{0,2}-?small|medium|x{0,2}-?large|smaller|larger)$/i],
    'font-family': [/^[\w\s,'"-]+$/],
    'text-decoration': [/^(?:none|underline|line-through|overline)$/i], 'text-align': [/^(?:left|right|center|justify)$/i],
    'margin-left': LENGTH, 'padding-left': LENGTH,
  },
};

/** Elements whose content is never text for a reader: dropped with everything inside. */
const NON_TEXT = ['script', 'style', 'textarea', 'option', 'select', 'noscript', 'head', 'title', 'template', 'xml', 'iframe', 'object', 'svg', 'math', 'button'];

/** The allowlist; every pass uses it, so even the second one cannot let anything through. */
const SAFE: sanitizeHtml.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: ALLOWED_ATTRIBUTES,
  allowedStyles: ALLOWED_STYLES,
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https', 'cid'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  nonTextTags: NON_TEXT,
  // Deeper nesting is flattened, so a hostile message cannot make the later string work deep.
  nestingLimit: 100,
};

/** Elements that start a new line: a command line ends at the first of them. */
const LINE_BREAKING = new Set([
  'br', 'div', 'p', 'li', 'ul', 'ol', 'table', 'tr', 'td', 'th', 'blockquote', 'pre', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'dl', 'dt', 'dd', 'center',
]);

type CutKind = 'history' | 'quote';

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.toLowerCase().split(/\s+/).includes(token);
}

/**
 * Where clients begin the quoted history. 'history' starts a tail that is all history (Outlook puts
 * the quoted message after its header block, not inside anything); 'quote' is a container, and
 * new text after it means an answer below or between quotes, which this module does not cut.
 */
function quoteStart(name: string, attribs: Record<string, string>): CutKind | null {
  const id = (attribs.id ?? '').toLowerCase();
  const cls = attribs.class;
  if (name === 'blockquote' && (attribs.type ?? '').toLowerCase() === 'cite') return 'quote';
  if (hasToken(cls, 'gmail_quote') || hasToken(cls, 'gmail_quote_container') || hasToken(cls, 'moz-cite-prefix')) return 'quote';
  if (hasToken(cls, 'protonmail_quote') || hasToken(cls, 'yahoo_quoted') || hasToken(cls, 'zmail_extra')) return 'quote';
  if (id === 'divrplyfwdmsg' || id === 'appendonsend' || id === 'mail-editor-reference-message-container') return 'history';
  if (id === 'olk_src_body_section' || hasToken(cls, 'olk_src_body_section')) return 'history';
  return null;
}

function blank(text: string): boolean {
  return text.replace(/&nbsp;|&#160;|[\s\u00a0\u200b-\u200f\ufeff]/g, '') === '';
}

function compactLength(text: string): number {
  return text.replace(/&nbsp;|&#160;|[\s\u00a0\u200b-\u200f\ufeff]/g, '').length;
}

interface CutResult { html: string; cut: boolean }

/** Sanitises and cuts in one pass, or null when the command lines or the quote do not look as expected. */
function sanitizeAndCut(html: string, commandLines: number): CutResult | null {
  let cutting = false;
  let cutKind: CutKind | null = null;
  let cutClosed = false;
  let quotesAfterCut = 0;
  let textAfterQuote = false;
  let commandsLeft = commandLines;
  let inCommandLine = false;
  let unexpected = false;

  const endCommandLine = (): void => {
    inCommandLine = false;
  };

  const out = sanitizeHtml(html, {
    ...SAFE,
    transformTags: {
      '*': (tagName, attribs) => {
        const a: Record<string, string> = { ...attribs };
        delete a[DROP];
        delete a[CUT];
        delete a[RULE];
        if (cutting) {
          if (tagName === 'blockquote') quotesAfterCut++;
          a[DROP] = '1';
          return { tagName, attribs: a };
        }
        const kind = quoteStart(tagName, attribs);
        if (kind) {
          cutting = true;
          cutKind = kind;
          a[CUT] = '1';
          return { tagName, attribs: a };
        }
        if (LINE_BREAKING.has(tagName)) endCommandLine();
        else if (inCommandLine) a[DROP] = '1'; // e.g. the mailto: link a client made of `#assign bob@…`
        // Outlook desktop's header block ("From: … Sent: …") is a div with a top border; whether
        // it is one is known only from its text, when it closes.
        if (tagName === 'div' && /border-top\s*:/i.test(attribs.style ?? '')) a[RULE] = '1';
        return { tagName, attribs: a };
      },
    },
    onCloseTag: (name) => {
      if (cutting) {
        if (name === 'blockquote' && quotesAfterCut > 0) quotesAfterCut--;
        return;
      }
      if (LINE_BREAKING.has(name)) endCommandLine();
    },
    textFilter: (text) => {
      if (cutting) {
        if (cutKind === 'quote' && cutClosed && quotesAfterCut === 0 && !blank(text)) textAfterQuote = true;
        return '';
      }
      if (commandsLeft === 0 && !inCommandLine) return text;
      if (blank(text)) return '';
      if (inCommandLine) return ''; // the rest of a command line split by inline markup
      const t = text.trim();
      // Exactly one command line per text run, and it must look like one: otherwise the HTML says
      // something other than the text the commands were parsed from.
      if (!/^#[a-z]/i.test(t) || /\n/.test(t)) {
        unexpected = true;
        return text;
      }
      commandsLeft--;
      inCommandLine = true;
      return '';
    },
    exclusiveFilter: (frame) => {
      if (frame.attribs[CUT]) {
        cutClosed = true;
        return true;
      }
      if (frame.attribs[DROP]) return true;
      // Relative or scheme-less sources survive the scheme check but mean nothing in a mail.
      if (frame.tag === 'img' && !/^(?:https?|cid):/i.test(frame.attribs.src ?? '')) return true;
      if (frame.attribs[RULE] && !cutting && headerField(frame.text.trim()) === 'from') {
        cutting = true;
        cutKind = 'history';
        cutClosed = true;
        return true;
      }
      return false;
    },
  });
  if (unexpected || commandsLeft > 0 || textAfterQuote) return null;
  return { html: out.split(` ${RULE}="1"`).join(''), cut: cutting };
}

const BLOCKS = new Set(['div', 'p', 'span', 'font', 'blockquote', 'center']);

/**
 * Apple Mail and others write "On <date>, <name> wrote:" in a block of its own just above the
 * quote: the last block, if it is such a line and nothing follows it, goes too.
 */
function dropTrailingAttribution(html: string): string {
  let total = 0;
  sanitizeHtml(html, { allowedTags: [], allowedAttributes: {}, textFilter: (t) => { total += compactLength(t); return ''; } });
  let seen = 0;
  let dropped = false;
  return sanitizeHtml(html, {
    ...SAFE,
    textFilter: (t) => {
      seen += compactLength(t);
      return t;
    },
    exclusiveFilter: (frame) => {
      if (dropped || seen !== total || !BLOCKS.has(frame.tag)) return false;
      const text = frame.text.replace(/\s+/g, ' ').trim();
      if (text === '' || attributionStrength(text) !== 'strong') return false;
      dropped = true;
      return true;
    },
  });
}

const EMPTYABLE = new Set(['div', 'p', 'span', 'font', 'b', 'i', 'u', 'strong', 'em', 'center']);
const TAG = /^<(\/?)([a-z][a-z0-9]*)\b[^>]*?(\/?)>/i;

/**
 * Drops blank lines left at the top (where the command lines were): spaces, <br>, and empty
 * paragraphs after the opening tags. A scan, not a backtracking regex, so it stays linear.
 */
function trimHead(html: string): string {
  let i = 0;
  let kept = '';
  for (;;) {
    const ws = /^(?:\s|&nbsp;|\u00a0)+/.exec(html.slice(i, i + 256));
    if (ws) { i += ws[0].length; continue; }
    const m = TAG.exec(html.slice(i, i + 2048));
    if (!m) break;
    const [tag, closing, name] = m as unknown as [string, string, string];
    const lower = name.toLowerCase();
    if (lower === 'br') { i += tag.length; continue; }
    if (closing || lower === 'img' || lower === 'hr') break;
    const empty = new RegExp(`^(?:\\s|&nbsp;|\\u00a0|<br />)*</${lower}>`).exec(html.slice(i + tag.length, i + tag.length + 2048));
    if (EMPTYABLE.has(lower) && empty) { i += tag.length + empty[0].length; continue; }
    kept += tag;
    i += tag.length;
  }
  return kept + html.slice(i);
}

/** Drops what the cut left at the end: blank lines, Outlook's <hr>, empty paragraphs; closing tags stay. */
function trimTail(html: string): string {
  let end = html.length;
  const closers: { tag: string; name: string }[] = [];
  while (end > 0) {
    const ch = html[end - 1] as string;
    if (/[\s\u00a0]/.test(ch)) { end--; continue; }
    if (html.endsWith('&nbsp;', end)) { end -= 6; continue; }
    if (ch !== '>') break;
    const lt = html.lastIndexOf('<', end - 1);
    if (lt < 0) break;
    const tag = html.slice(lt, end);
    const m = TAG.exec(tag);
    if (!m || m[0].length !== tag.length) break;
    const name = (m[2] as string).toLowerCase();
    if (m[1]) { closers.push({ tag, name }); end = lt; continue; }
    if (name === 'br' || name === 'hr') { end = lt; continue; }
    const last = closers[closers.length - 1];
    if (last && last.name === name && EMPTYABLE.has(name)) { closers.pop(); end = lt; continue; }
    break;
  }
  return html.slice(0, end) + closers.reverse().map((c) => c.tag).join('');
}

function hasContent(html: string): boolean {
  if (/<img\b/i.test(html)) return true;
  let n = 0;
  sanitizeHtml(html, { allowedTags: [], allowedAttributes: {}, textFilter: (t) => { n += compactLength(t); return ''; } });
  return n > 0;
}

/** The allowlist alone, no cutting: the dispatcher's last word on a stored relay's HTML. */
export function sanitizeRelayHtml(html: string): string {
  return sanitizeHtml(html, SAFE);
}

/**
 * The engineer's HTML reply, safe to send and cut to what they newly wrote, without the first
 * `commandLines` command lines; null when that cannot be done with confidence (too large, the
 * command lines not where the text had them, an answer below the quote, history left over that
 * the text-level detector still recognises, or nothing left).
 */
export function relayHtml(html: string, commandLines: number): string | null {
  if (html.length > MAX_RELAY_HTML_CHARS || !Number.isInteger(commandLines) || commandLines < 0) return null;
  const first = sanitizeAndCut(html, commandLines);
  if (first === null) return null;
  const cut = first.cut ? dropTrailingAttribution(trimTail(first.html)) : first.html;
  const out = trimTail(trimHead(cut));
  if (!hasContent(out)) return null;
  // A second opinion from the text side: history the structure did not show (a bare "On … wrote:"
  // with `>` lines, an Outlook header block without its container) means this cut is not trusted.
  if (splitReply(htmlToQuoteText(out).split('\n'), { guess: false }).quoteFound) return null;
  return out;
}
