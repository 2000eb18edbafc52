// Plain text derived from an HTML body, for messages that carry no text/plain part. One forward
// scan over the markup rather than a DOM: quote stripping only needs line structure (blocks, <br>,
// list items, blockquote depth as "> "). Every search moves forward from where the last one ended
// (and a search that finds nothing is not repeated), so the cost is linear even on hostile input
// such as thousands of unclosed comments, <style> tags or nested blockquotes.
import { decodeEntities } from '../threading/quote-entities.js';

/** Tags that end or start a line. */
const BLOCK = new Set(['p', 'div', 'li', 'tr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'ul', 'ol', 'pre', 'address', 'section', 'article', 'header', 'footer', 'dd', 'dt']);
/** Elements whose content is not text. */
const RAW = new Set(['script', 'style', 'head', 'title']);
const CLOSING: Record<string, RegExp> = Object.fromEntries(['script', 'style', 'head', 'title', 'pre'].map((n) => [n, new RegExp(`</${n}`, 'gi')]));
/** Whitespace other than single spaces: only then is collapsing needed. */
const ODD_SPACE = /[^\S ]| {2}/;
/** Deeper blockquotes are shown at this depth: the prefix must not grow with hostile nesting. */
const MAX_QUOTE_DEPTH = 10;

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Tags removed, whitespace kept (the inside of <pre>). */
function stripTags(s: string): string {
  return s.replace(/<[^<>]*>/g, '');
}

export function htmlToPlainText(html: string): string {
  const src = html.replace(/\r\n?/g, '\n');
  const missing = new Set<string>(); // closing tags known to be absent after some point
  const out = new LineBuilder();
  const text = (s: string): void => {
    if (s !== '') out.text(decodeEntities(ODD_SPACE.test(s) ? s.replace(/\s+/g, ' ') : s));
  };
  /** Where `</name` next occurs at or after `from` (case-insensitive), or -1. */
  const closing = (name: string, from: number): number => {
    if (missing.has(name)) return -1;
    const re = CLOSING[name] ?? /$^/g;
    re.lastIndex = from;
    const at = re.exec(src)?.index ?? -1;
    if (at < 0) missing.add(name);
    return at;
  };
  let noMoreGt = false;
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    if (lt < 0) break;
    const c1 = src.charCodeAt(lt + 1);
    if (c1 === 0x21 || c1 === 0x3f) {
      // <!-- comment -->, <!DOCTYPE …>, <?xml …?>, <![CDATA[: no text. Unterminated, they run to the end.
      text(src.slice(i, lt));
      const isComment = src.startsWith('<!--', lt);
      const end = isComment ? src.indexOf('-->', lt + 4) : noMoreGt ? -1 : src.indexOf('>', lt + 2);
      if (end < 0) {
        if (!isComment) noMoreGt = true;
        i = src.length;
        break;
      }
      i = end + (isComment ? 3 : 1);
      continue;
    }
    const closingTag = c1 === 0x2f;
    const nameStart = closingTag ? lt + 2 : lt + 1;
    if (!isLetter(src.charCodeAt(nameStart)) || noMoreGt) {
      // A "<" that starts no tag is text.
      text(src.slice(i, lt + 1));
      i = lt + 1;
      continue;
    }
    const gt = src.indexOf('>', nameStart);
    if (gt < 0) {
      noMoreGt = true;
      text(src.slice(i, lt + 1));
      i = lt + 1;
      continue;
    }
    text(src.slice(i, lt));
    let nameEnd = nameStart;
    while (nameEnd < gt && isNameChar(src.charCodeAt(nameEnd))) nameEnd++;
    const name = src.slice(nameStart, nameEnd).toLowerCase();
    i = gt + 1;
    if (!closingTag && (RAW.has(name) || name === 'pre')) {
      const close = closing(name, i);
      if (close >= 0) {
        if (name === 'pre') {
          out.newline();
          out.text(decodeEntities(stripTags(src.slice(i, close))));
          out.newline();
        }
        const closeGt = src.indexOf('>', close);
        i = closeGt < 0 ? src.length : closeGt + 1;
        continue;
      }
      // Never closed: only the tag itself goes, as for any unknown tag.
    }
    if (name === 'br') out.newline();
    else if (name === 'hr' && !closingTag) {
      out.newline();
      out.text('---');
      out.newline();
    } else if (name === 'blockquote') out.quote(closingTag ? -1 : 1);
    else if (name === 'li' && !closingTag) {
      out.newline();
      out.text('* ');
    } else if ((name === 'td' || name === 'th') && !closingTag) out.text(' ');
    else if (BLOCK.has(name) && (closingTag || (name !== 'li' && name !== 'pre' && name !== 'dd' && name !== 'dt'))) out.newline();
  }
  text(src.slice(i));
  return out.finish();
}

/**
 * Collects the text into lines: blockquote depth becomes a "> " prefix per level (capped), taken
 * where a line's text starts; spaces collapsed, lines trimmed, at most one blank line in a row.
 */
class LineBuilder {
  private readonly lines: string[] = [];
  private cur = '';
  private curDepth = -1;
  private depth = 0;

  text(t: string): void {
    if (t.includes('\n')) {
      const parts = t.split('\n');
      parts.forEach((part, k) => {
        if (k > 0) this.newline();
        this.text(part);
      });
      return;
    }
    if (this.curDepth < 0 && t.trim() !== '') this.curDepth = this.depth;
    this.cur += t;
  }

  newline(): void {
    let line = this.cur;
    if (/[\t\u00a0]| {2}/.test(line)) line = line.replace(/[ \t\u00a0]+/g, ' ');
    line = line.trim();
    const d = Math.min(Math.max(this.curDepth, 0), MAX_QUOTE_DEPTH);
    const n = this.lines.length;
    if (line !== '') this.lines.push(d > 0 ? '> '.repeat(d) + line : line);
    else if (n > 0 && this.lines[n - 1] !== '') this.lines.push('');
    this.cur = '';
    this.curDepth = -1;
  }

  /** A blockquote opens (+1) or closes (-1): it starts or ends a line. */
  quote(delta: 1 | -1): void {
    if (delta > 0) {
      this.newline();
      this.depth++;
    } else {
      this.depth = Math.max(0, this.depth - 1);
      this.newline();
    }
  }

  finish(): string {
    this.newline();
    const lines = this.lines;
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n');
  }
}
