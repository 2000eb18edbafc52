// Plain text derived from an HTML body, for messages that carry no text/plain part. A single
// linear pass of regular expressions rather than a DOM: fast on 50 KB newsletters, and quote
// stripping only needs line structure (blocks, <br>, list items, blockquote depth as "> ").
import { decodeEntities } from '../threading/quote-entities.js';

const BLOCK_END = /<\/(p|div|li|tr|h[1-6]|table|ul|ol|pre|address|section|article|header|footer|dd|dt)\s*>/gi;

export function htmlToPlainText(html: string): string {
  let s = html
    .replace(/<!--[\s\S]*?-->/g, '')
    // <?xml …?> declarations (Office HTML), <!DOCTYPE …> and <![CDATA[ markers carry no text.
    .replace(/<[!?][^>]*>/g, '')
    .replace(/<(script|style|head|title)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/\r\n?/g, '\n');
  // Whitespace inside markup is not significant except within <pre>.
  const pres: string[] = [];
  s = s.replace(/<pre\b[^>]*>([\s\S]*?)<\/pre\s*>/gi, (_m, inner: string) => {
    pres.push(inner);
    return `\u0003${pres.length - 1}\u0003`;
  });
  s = s.replace(/\s+/g, ' ');
  s = s
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n* ')
    .replace(/<(td|th)\b[^>]*>/gi, ' ')
    .replace(/<hr\b[^>]*>/gi, '\n---\n')
    .replace(BLOCK_END, '\n')
    .replace(/<(p|div|tr|h[1-6]|table|ul|ol|address|section|article|header|footer)\b[^>]*>/gi, '\n')
    .replace(/<blockquote\b[^>]*>/gi, '\n\u0001')
    .replace(/<\/blockquote\s*>/gi, '\u0002\n')
    .replace(/<\/?[a-zA-Z][^>]*>/g, '')
    // eslint-disable-next-line no-control-regex -- \u0003 marks where a <pre> block goes back
    .replace(/\u0003(\d+)\u0003/g, (_m, i: string) => '\n' + (pres[Number(i)] ?? '').replace(/<[^>]*>/g, '') + '\n');
  s = decodeEntities(s);
  // Blockquote markers become "> " prefixes, nested per depth.
  let depth = 0;
  const lines: string[] = [];
  for (const seg of s.split('\n')) {
    let line = '';
    // A line is as deep as the blockquotes open where its text starts.
    let lineDepth = -1;
    for (const ch of seg) {
      if (ch === '\u0001') depth++;
      else if (ch === '\u0002') depth = Math.max(0, depth - 1);
      else {
        if (lineDepth < 0 && ch.trim() !== '') lineDepth = depth;
        line += ch;
      }
    }
    line = line.replace(/[ \t\u00a0]+/g, ' ').trim();
    lines.push(lineDepth > 0 && line ? '> '.repeat(lineDepth) + line : line);
  }
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}
