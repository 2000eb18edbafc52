// HTML character references (&amp;, &#233;, &uuml; …) decoded as an HTML parser decodes them in
// text, for the HTML-to-text conversions of parsing and quote stripping. Pure. The full table of
// named references (the `he` package) is big to load, so it is only loaded for a string that
// holds a reference outside the everyday set below.
import { createRequire } from 'node:module';

/** HTML's Latin-1 entities (U+00A0…U+00FF), in code point order; with amp/lt/gt/quot these may appear without ';'. */
const LATIN1_NAMES = (
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro para ' +
  'middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute ' +
  'Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute ' +
  'THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ' +
  'ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml'
).split(' ');
const LEGACY = new Map<string, string>([
  ['amp', '&'], ['AMP', '&'], ['lt', '<'], ['LT', '<'], ['gt', '>'], ['GT', '>'], ['quot', '"'], ['QUOT', '"'], ['COPY', '\u00a9'], ['REG', '\u00ae'],
  ...LATIN1_NAMES.map((name, i): [string, string] => [name, String.fromCharCode(0xa0 + i)]),
]);
/** Entities that need their ';': the typographic ones mail HTML uses every day. */
const NAMED = new Map<string, string>([...LEGACY, ...Object.entries({
  apos: "'", ndash: '\u2013', mdash: '\u2014', lsquo: '\u2018', rsquo: '\u2019', sbquo: '\u201a', ldquo: '\u201c',
  rdquo: '\u201d', bdquo: '\u201e', dagger: '\u2020', Dagger: '\u2021', bull: '\u2022', hellip: '\u2026', permil: '\u2030',
  lsaquo: '\u2039', rsaquo: '\u203a', euro: '\u20ac', trade: '\u2122', ensp: '\u2002', emsp: '\u2003', thinsp: '\u2009',
  zwnj: '\u200c', zwj: '\u200d', lrm: '\u200e', rlm: '\u200f', OElig: '\u0152', oelig: '\u0153', Scaron: '\u0160',
  scaron: '\u0161', Yuml: '\u0178', fnof: '\u0192', circ: '\u02c6', tilde: '\u02dc', larr: '\u2190', rarr: '\u2192',
  uarr: '\u2191', darr: '\u2193', minus: '\u2212', prime: '\u2032', Prime: '\u2033', laquo: '\u00ab', raquo: '\u00bb',
})]);
/** Numeric references to C1 controls mean the windows-1252 character (HTML's table). */
const C1 = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function fromCodePoint(cp: number): string {
  if (cp === 0 || (cp >= 0xd800 && cp <= 0xdfff) || !(cp <= 0x10ffff)) return '\ufffd';
  if (cp >= 0x80 && cp <= 0x9f) return C1[cp - 0x80] ?? '';
  return String.fromCodePoint(cp);
}

const requireLazy = createRequire(import.meta.url);
let heDecode: ((html: string) => string) | null = null;

/**
 * Decodes HTML character references as the HTML parser does in text. Numeric references, the
 * Latin-1 and everyday typographic entities are decoded here; a string holding any other named
 * entity (&alpha;, &rarr; …) goes to the full table of the `he` package, loaded on first need.
 */
export function decodeEntities(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let last = 0;
  const n = s.length;
  while (amp >= 0) {
    let end = amp + 1; // one past the reference
    let rep: string | null = null;
    const c = s.charCodeAt(end);
    if (c === 0x23) {
      // &#123; or &#x7B; (the ';' is optional)
      const hex = (s.charCodeAt(end + 1) | 0x20) === 0x78;
      const start = end + (hex ? 2 : 1);
      let k = start;
      while (k < n && (hex ? isHexDigit(s.charCodeAt(k)) : isDigit(s.charCodeAt(k)))) k++;
      if (k > start) {
        rep = fromCodePoint(parseInt(s.slice(start, k), hex ? 16 : 10));
        end = s.charCodeAt(k) === 0x3b ? k + 1 : k;
      }
    } else if (isAlpha(c)) {
      let k = end + 1;
      while (k < n && (isAlpha(s.charCodeAt(k)) || isDigit(s.charCodeAt(k)))) k++;
      const name = s.slice(end, k);
      if (s.charCodeAt(k) === 0x3b) {
        rep = NAMED.get(name) ?? null;
        if (rep === null) return decodeRare(s);
        end = k + 1;
      } else {
        rep = legacyPrefix(name);
        end = k;
      }
    }
    if (rep !== null) {
      out += s.slice(last, amp) + rep;
      last = end;
    }
    amp = s.indexOf('&', end);
  }
  return last === 0 ? s : out + s.slice(last);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function isAlpha(c: number): boolean {
  return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
}

/** Without ';' only the legacy names count, as the longest one that starts the word ("&copy2026"). */
function legacyPrefix(n: string): string | null {
  for (let len = Math.min(n.length, 6); len >= 2; len--) {
    const c = LEGACY.get(n.slice(0, len));
    if (c !== undefined) return c + n.slice(len);
  }
  return null;
}

function decodeRare(s: string): string {
  heDecode ??= (requireLazy('he') as { decode: (html: string) => string }).decode;
  return heDecode(s);
}
